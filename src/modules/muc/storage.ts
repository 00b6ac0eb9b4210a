// What the chat service stores, and for how long (owner "room": deleting a room deletes it all):
// room settings, affiliations with reserved nicknames, the room archive (XEP-0313 §6.1.2) and
// the room's vCard (XEP-0054 on the room JID).
import { archive, kv, map } from "../../core/module.js";
import type { Config } from "../../config/schema.js";
import type { ArchiveStore, KvStore, MapStore } from "../../storage/types.js";
import type { AffiliationRecord, RoomRecord } from "./room.js";

/** One row of a room's archive. */
export interface RoomArchived {
  /** The message as the room broadcast it, without 'to' (XEP-0313 §3: the stanza, whole). */
  xml: string;
  /** The sender's real bare JID: for account deletion and non-anonymous rooms, never shown otherwise. */
  jid: string;
}

/** The module's stores, declared with their lifecycle (see docs/privacy.md). */
export function mucStores(config: Config) {
  return {
    muc_rooms: kv({
      owner: "room",
      purpose: "The settings of group chats that are kept when empty: name, description, who may enter, the subject and who set it. Group chats that vanish when empty are kept in memory only",
      retention: { kind: "lifetime" },
      export: true,
    }),
    muc_affiliations: map({
      owner: "room",
      purpose: "Who owns, administers, is a member of or is banned from each group chat kept when empty (their addresses), and the nickname a member reserved. Deleting your account removes you from every group chat's lists",
      retention: { kind: "lifetime" },
      export: true,
    }),
    muc_archive: archive({
      owner: "room",
      purpose: `Messages sent to group chats kept when empty that have their history switched on, so that members see the conversation on all their devices and encryption (OMEMO) works; each message is stored with its sender's address, which only the room's moderators (or everyone, in rooms that show addresses) can see. ${
        config.muc.deleteMessagesWithAccount
          ? "When you delete your account, the messages you sent are deleted from every group chat's history"
          : "Deleting your account does not delete the messages you sent to group chats"
      }`,
      retention: { kind: "duration", ms: config.muc.archiveRetentionDays * 86_400_000 },
      export: true,
    }),
    muc_vcards: kv({
      owner: "room",
      purpose: "The picture and description the owners of a group chat set for it",
      retention: { kind: "lifetime" },
      export: true,
    }),
  };
}

/** Typed handles on the stores. */
export interface MucStores {
  rooms: KvStore<RoomRecord>;
  affiliations: MapStore<AffiliationRecord>;
  archive: ArchiveStore<RoomArchived>;
  vcards: KvStore<{ xml: string }>;
}

/** Parses stored XML back into an element (one parser for many rows); undefined when unreadable. */
export { storedXmlReader as xmlReader } from "../../xml/parse-element.js";
