// Conversion between legacy bookmarks (XEP-0048 <storage xmlns="storage:bookmarks">) and the
// per-room items of XEP-0402 (urn:xmpp:bookmarks:1), as XEP-0402 §5.3 ("compat") and XEP-0411 ask.
// Pure functions.
import { tryParseJid } from "../../jid/jid.js";
import { x, type Element } from "../../xml/element.js";

export const NS_BOOKMARKS_LEGACY = "storage:bookmarks";
export const NS_BOOKMARKS2 = "urn:xmpp:bookmarks:1";

const isTrue = (v: string | undefined) => v === "true" || v === "1";

/** XEP-0048 §3.2 conferences as XEP-0402 items, by room JID (invalid or repeated JIDs are skipped). */
export function legacyToItems(storage: Element): Map<string, Element> {
  const out = new Map<string, Element>();
  for (const c of storage.getChildren("conference", NS_BOOKMARKS_LEGACY)) {
    const room = tryParseJid(c.attrs.jid ?? "");
    if (!room || room.local === "" || room.resource !== "" || out.has(room.toString())) continue;
    const item = x("conference", { xmlns: NS_BOOKMARKS2, name: c.attrs.name || undefined, autojoin: isTrue(c.attrs.autojoin) ? "true" : undefined });
    const nick = c.getChildText("nick", NS_BOOKMARKS_LEGACY);
    if (nick) item.append(x("nick", null, nick));
    const password = c.getChildText("password", NS_BOOKMARKS_LEGACY);
    if (password) item.append(x("password", null, password));
    out.set(room.toString(), item);
  }
  return out;
}

/**
 * XEP-0402 items back to one XEP-0048 <storage/>; <url/> bookmarks of the previous storage (which
 * XEP-0402 has no place for) are kept. XEP-0402 <extensions/> have no legacy form and are dropped.
 */
export function itemsToLegacy(items: { id: string; payload: Element }[], previous?: Element): Element {
  const storage = x("storage", { xmlns: NS_BOOKMARKS_LEGACY });
  for (const { id, payload } of items) {
    if (!payload.is("conference", NS_BOOKMARKS2)) continue;
    const c = x("conference", { jid: id, name: payload.attrs.name || undefined, autojoin: isTrue(payload.attrs.autojoin) ? "true" : "false" });
    const nick = payload.getChildText("nick", NS_BOOKMARKS2);
    if (nick) c.append(x("nick", null, nick));
    const password = payload.getChildText("password", NS_BOOKMARKS2);
    if (password) c.append(x("password", null, password));
    storage.append(c);
  }
  for (const url of previous?.getChildren("url", NS_BOOKMARKS_LEGACY) ?? []) storage.append(url.clone());
  return storage;
}
