// The blocklist in XEP-0227 form: a XEP-0191 <blocklist/> element (Warbler's export), and on
// import also ejabberd's XEP-0016 privacy lists, whose whole-JID deny rules are blocks.
import type { Element } from "../../xml/element.js";
import { x } from "../../xml/element.js";
import { tryParseJid } from "../../jid/jid.js";
import type { ImportResult } from "../../core/portable.js";

export const NS_PRIVACY = "jabber:iq:privacy";

/** The export element for a stored list. */
export function blocklistElement(ns: string, list: readonly string[]): Element {
  return x("blocklist", { xmlns: ns }, ...list.map((j) => x("item", { jid: j })));
}

/**
 * The JIDs to block found in imported elements: XEP-0191 <blocklist/> items, and the items of
 * the default XEP-0016 privacy list (or its only list) that deny everything from a JID
 * (type='jid', action='deny', no per-stanza-kind children). Other privacy rules have no
 * XEP-0191 equivalent and are reported, not imported.
 */
export function blockedFromImport(elements: Element[]): { jids: string[]; notes: string[] } {
  const jids = new Set<string>();
  const notes: string[] = [];
  let invalid = 0;
  let other = 0;
  const add = (s: string | undefined) => {
    const j = tryParseJid(s ?? "");
    if (j) jids.add(j.toString());
    else invalid++;
  };
  for (const el of elements) {
    if (el.name === "blocklist") {
      for (const item of el.getChildren("item")) add(item.attrs.jid);
    } else if (el.name === "query" && el.ns === NS_PRIVACY) {
      const lists = el.getChildren("list", NS_PRIVACY);
      const dflt = el.getChild("default", NS_PRIVACY)?.attrs.name;
      const list = lists.find((l) => l.attrs.name === dflt) ?? (lists.length === 1 ? lists[0] : undefined);
      for (const l of lists) if (l !== list) other += l.getChildren("item", NS_PRIVACY).length;
      for (const item of list?.getChildren("item", NS_PRIVACY) ?? []) {
        if (item.attrs.type === "jid" && item.attrs.action === "deny" && item.elements().length === 0) add(item.attrs.value);
        else other++;
      }
    }
  }
  if (invalid > 0) notes.push(`${invalid} invalid addresses skipped`);
  if (other > 0) notes.push(`${other} privacy list rules (XEP-0016) that are not plain blocks were not imported`);
  return { jids: [...jids], notes };
}

/** Result shape for a merge of `jids` into a stored list. */
export function mergeBlocklist(stored: readonly string[], jids: readonly string[], max: number): { list: string[]; result: ImportResult } {
  const set = new Set(stored);
  let added = 0;
  for (const j of jids) {
    if (set.has(j)) continue;
    if (set.size >= max) return { list: [...set], result: { imported: added, notes: [`the blocklist is full (${max}); ${jids.length - added} not imported`] } };
    set.add(j);
    added++;
  }
  return { list: [...set], result: { imported: added } };
}
