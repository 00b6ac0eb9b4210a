// Offline messages in XEP-0227 form (§4.2 <offline-messages/>): each stored message with a
// XEP-0203 delay carrying the time it was stored; imported back with that time.
import { createHash } from "node:crypto";
import { NS } from "../../core/namespaces.js";
import type { PortableHandler } from "../../core/portable.js";
import { NS_PIE, cleanImportedMessage } from "../../core/lifecycle/xep0227.js";
import type { ArchiveStore } from "../../storage/types.js";
import { tryParseJid } from "../../jid/jid.js";
import { x } from "../../xml/element.js";
import { parseStoredStanza, withDelay } from "./offline.module.js";

/** The offline module's export/import handler over its `offline` store (values: stanza XML). */
export function offlinePortable(store: ArchiveStore): PortableHandler {
  return {
    elements: [{ name: "offline-messages", ns: NS_PIE }],
    async export(account) {
      const el = x("offline-messages", { xmlns: NS_PIE });
      let after: string | undefined;
      for (;;) {
        const page = await store.query(account.bareString, { limit: 500, ...(after ? { after } : {}) });
        for (const item of page.items) {
          const stanza = typeof item.value === "string" ? parseStoredStanza(item.value) : undefined;
          if (stanza) el.append(withDelay(stanza, account.domain, item.when));
        }
        if (page.complete || page.items.length === 0) break;
        after = page.items[page.items.length - 1]!.id;
      }
      return { elements: el.children.length > 0 ? [el] : [] };
    },
    async import(account, elements) {
      let imported = 0;
      let duplicates = 0;
      for (const list of elements) {
        for (const m of list.getChildren("message")) {
          const { stanza, when } = cleanImportedMessage(m, account.bareString);
          stanza.ns = NS.CLIENT;
          const xml = stanza.toString();
          const at = when ?? Date.now();
          // the same message imported twice gets the same id: the second append is refused
          const id = createHash("sha256").update(`${at}\n${xml}`).digest("base64url").slice(0, 22);
          const from = tryParseJid(stanza.attrs.from ?? "");
          try {
            await store.append(account.bareString, { id, when: at, with: from?.bareString ?? "", value: xml });
            imported++;
          } catch (err) {
            if ((err as { code?: string }).code !== "conflict") throw err;
            duplicates++;
          }
        }
      }
      return { imported, notes: duplicates > 0 ? [`${duplicates} messages were already stored`] : [] };
    },
  };
}
