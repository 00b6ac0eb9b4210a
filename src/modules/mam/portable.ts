// The message archive and archiving preferences in XEP-0227 form, as prosody-migrator writes
// the archive: <archive xmlns='urn:xmpp:pie:0#mam'> holding XEP-0313 <result id=…> elements, each
// a XEP-0297 <forwarded/> with the XEP-0203 delay of the archiving time. The ids are kept on
// import, so clients' references to stanza ids (XEP-0359) stay valid; preferences are a
// XEP-0441 <prefs/> element.
import { NS } from "../../core/namespaces.js";
import type { PortableHandler } from "../../core/portable.js";
import { NS_PIE_MAM, cleanImportedMessage, parseStamp } from "../../core/lifecycle/xep0227.js";
import type { ArchiveStore, KvStore } from "../../storage/types.js";
import type { Jid } from "../../jid/jid.js";
import { tryParseJid } from "../../jid/jid.js";
import { x } from "../../xml/element.js";
import { NS_FORWARD, NS_MAM } from "./rules.js";
import { formatDateTime } from "./query.js";
import { parsePrefs, prefsElement, type ArchivePrefs } from "./prefs.js";
import { storedReader, toStored, type ArchivedMessage } from "./stored.js";

/** The mam module's export/import handler; `prefsChanged` lets the module drop its cached prefs. */
export function mamPortable(
  store: ArchiveStore<ArchivedMessage>,
  prefsStore: KvStore<ArchivePrefs>,
  prefsChanged: (account: Jid) => void,
): PortableHandler {
  return {
    elements: [
      { name: "archive", ns: NS_PIE_MAM },
      { name: "prefs", ns: NS_MAM },
    ],
    async export(account) {
      const archive = x("archive", { xmlns: NS_PIE_MAM });
      const read = storedReader();
      let after: string | undefined;
      for (;;) {
        const page = await store.query(account.bareString, { limit: 500, ...(after ? { after } : {}) });
        for (const item of page.items) {
          const msg = read(item.value);
          if (!msg) continue;
          archive.append(
            x(
              "result",
              { xmlns: NS_MAM, id: item.id },
              x("forwarded", { xmlns: NS_FORWARD }, x("delay", { xmlns: NS.DELAY, stamp: formatDateTime(item.when) }), msg),
            ),
          );
        }
        if (page.complete || page.items.length === 0) break;
        after = page.items[page.items.length - 1]!.id;
      }
      const elements = archive.children.length > 0 ? [archive] : [];
      const prefs = await prefsStore.get(account.bareString);
      if (prefs) elements.push(prefsElement(prefs));
      return { elements };
    },
    async import(account, elements) {
      let imported = 0;
      let duplicates = 0;
      let unusable = 0;
      const notes: string[] = [];
      for (const el of elements) {
        if (el.name === "prefs") {
          await prefsStore.set(account.bareString, parsePrefs(el));
          prefsChanged(account);
          notes.push("archiving preferences imported");
          continue;
        }
        for (const result of el.getChildren("result", NS_MAM)) {
          const fwd = result.getChild("forwarded", NS_FORWARD);
          const message = fwd?.getChild("message");
          const id = result.attrs.id;
          const when = parseStamp(fwd?.getChild("delay", NS.DELAY)?.attrs.stamp);
          if (!fwd || !message || !id || when === undefined) {
            unusable++;
            continue;
          }
          const { stanza } = cleanImportedMessage(message, account.bareString);
          stanza.ns = NS.CLIENT;
          const from = tryParseJid(stanza.attrs.from ?? "");
          const to = tryParseJid(stanza.attrs.to ?? "");
          // the account's own messages are outgoing; the peer is the other side
          const out = from !== undefined && from.bare().equals(account);
          const peer = out ? to : from;
          try {
            await store.append(account.bareString, { id, when, with: peer?.bareString ?? "", value: toStored(stanza) });
            imported++;
          } catch (err) {
            if ((err as { code?: string }).code !== "conflict") throw err;
            duplicates++;
          }
        }
      }
      if (duplicates > 0) notes.push(`${duplicates} archived messages were already present`);
      if (unusable > 0) notes.push(`${unusable} archive entries without id, time or message skipped`);
      return { imported, notes };
    },
  };
}
