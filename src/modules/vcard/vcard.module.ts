// vcard-temp (XEP-0054) for accounts, kept in step with PEP avatars (XEP-0398 conversion of
// XEP-0084 and XEP-0153), and the XEP-0153 avatar hash in the account's outgoing presence.
import { defineModule, kv, type IqRequest } from "../../core/module.js";
import { StanzaError } from "../../core/errors.js";
import { errorSummary } from "../../core/session.js";
import type { Jid } from "../../jid/jid.js";
import type { Element } from "../../xml/element.js";
import { fromJson, toJson, type ElementJson } from "../../xml/element-json.js";
import type { KvStore } from "../../storage/types.js";
import type { RosterService } from "../roster/types.js";
import type { PepService } from "../pep/types.js";
import { availableSessions, broadcastPresence } from "../presence/broadcast.js";
import {
  NS_AVATAR_DATA,
  NS_AVATAR_METADATA,
  NS_VCARD,
  NS_VCARD_UPDATE,
  inlineInfo,
  metadataFor,
  photoFromBase64,
  photoOfVcard,
  updateElement,
  withPhoto,
  type Photo,
} from "./avatar.js";
import { x } from "../../xml/element.js";

/** XEP-0398 §3: the feature an account announces when the server converts avatars. */
export const NS_PEP_VCARD_CONVERSION = "urn:xmpp:pep-vcard-conversion:0";
/** XEP-0292: vCard4 is a PEP node of this name (served by the pep module). */
export const NS_VCARD4 = "urn:xmpp:vcard4";

const HASH_CACHE_SIZE = 10_000;

export const vcardModule = defineModule({
  name: "vcard",
  specs: ["XEP-0054", "XEP-0153", "XEP-0398", "XEP-0292 (via PEP)"],
  after: ["roster", "pep"],
  disco: { features: [NS_VCARD], accountFeatures: [NS_VCARD, NS_PEP_VCARD_CONVERSION, NS_VCARD4] },
  stores: {
    vcard: kv({
      owner: "account",
      purpose: "Your contact card (vCard: name, photo and whatever else you fill in); anyone who asks for it can read it, as vcard-temp clients expect",
      retention: { kind: "lifetime" },
      export: true,
    }),
  },
  setup(ctx) {
    const core = ctx.core;
    const log = ctx.log;
    const store = ctx.stores.vcard as KvStore<ElementJson>;
    const maxSize = ctx.config.vcard.maxSize;
    const pep = ctx.use<PepService>("pep");

    const load = async (owner: Jid): Promise<Element | undefined> => {
      const j = await store.get(owner.bareString);
      return j ? fromJson(j) : undefined;
    };

    // The XEP-0153 hash of each account's photo ("" for none), kept because every presence needs it.
    const hashes = new Map<string, string>();
    const photoHash = async (owner: Jid): Promise<string> => {
      let h = hashes.get(owner.bareString);
      if (h === undefined) {
        const v = await load(owner);
        h = (v && photoOfVcard(v)?.sha1) ?? "";
        if (hashes.size >= HASH_CACHE_SIZE) hashes.delete(hashes.keys().next().value!);
        hashes.set(owner.bareString, h);
      }
      return h;
    };

    /** Re-sends the account's presence with the new hash (XEP-0153 §4.1: contacts learn the avatar changed). */
    const announce = async (owner: Jid, sha1: string): Promise<void> => {
      const roster = ctx.use<RosterService>("roster");
      if (!roster) return;
      for (const s of availableSessions(core, owner)) {
        if (!s.presence) continue;
        const p = s.presence.clone();
        p.children = p.children.filter((c) => typeof c === "string" || c.ns !== NS_VCARD_UPDATE);
        p.append(updateElement(sha1));
        s.presence = p;
        await broadcastPresence(core, roster, owner, p);
      }
    };

    /** Stores a vCard; when the photo changed, updates the hash and tells contacts. Returns the photo. */
    const save = async (owner: Jid, vcard: Element): Promise<Photo | undefined> => {
      await store.set(owner.bareString, toJson(vcard));
      const photo = photoOfVcard(vcard);
      const sha1 = photo?.sha1 ?? "";
      const before = await photoHash(owner);
      hashes.set(owner.bareString, sha1);
      if (before !== sha1) await announce(owner, sha1);
      return photo;
    };

    const tooLarge = (vcard: Element) => Buffer.byteLength(vcard.toString(), "utf8") > maxSize;

    // ---- XEP-0054 ----

    ctx.iq("account", "get", NS_VCARD, "vCard", async (req) => {
      // XEP-0054 §3.2: anyone may read a user's vCard; none stored gives an empty one
      return (await load(req.to)) ?? x("vCard", { xmlns: NS_VCARD });
    });

    ctx.iq("account", "set", NS_VCARD, "vCard", async (req: IqRequest) => {
      // XEP-0054 §3.1: only the user sets their own vCard
      if (!req.from.bare().equals(req.to)) throw new StanzaError("forbidden");
      const vcard = req.payload.clone();
      if (tooLarge(vcard)) throw new StanzaError("not-acceptable", `The vCard exceeds ${maxSize} bytes`);
      const before = await photoHash(req.to);
      const photo = await save(req.to, vcard);
      // XEP-0398 §4: a photo set through vcard-temp becomes the PEP avatar
      if (pep && (photo?.sha1 ?? "") !== before) {
        if (photo) await pep.publish(req.to, NS_AVATAR_DATA, { id: photo.sha1, payload: x("data", { xmlns: NS_AVATAR_DATA }, photo.base64) }, { by: ctx.name });
        await pep.publish(req.to, NS_AVATAR_METADATA, { id: photo?.sha1 ?? "current", payload: metadataFor(photo) }, { by: ctx.name });
      }
    });

    // ---- export and import: <vCard xmlns='vcard-temp'/> under <user/> (XEP-0227 §4 "vCards") ----

    ctx.portable({
      elements: [{ name: "vCard", ns: NS_VCARD }],
      async export(account) {
        const v = await load(account);
        return { elements: v ? [v] : [] };
      },
      async import(account, elements) {
        // one vCard per account: the last one given wins
        const vcard = elements[elements.length - 1];
        if (!vcard) return { imported: 0 };
        if (tooLarge(vcard)) return { imported: 0, notes: [`the vCard exceeds ${maxSize} bytes and was not imported`] };
        const photo = await save(account, vcard.clone());
        // XEP-0398 §4: a photo becomes the PEP avatar, unless the import brought one (PEP is imported first)
        if (pep && photo && (await pep.items(account, NS_AVATAR_METADATA)).length === 0) {
          await pep.publish(account, NS_AVATAR_DATA, { id: photo.sha1, payload: x("data", { xmlns: NS_AVATAR_DATA }, photo.base64) }, { by: ctx.name });
          await pep.publish(account, NS_AVATAR_METADATA, { id: photo.sha1, payload: metadataFor(photo) }, { by: ctx.name });
        }
        return { imported: 1 };
      },
    });

    // ---- XEP-0398 §4: a PEP avatar becomes the vCard photo ----

    pep?.onPublish(async (e) => {
      if (e.by === ctx.name || e.node !== NS_AVATAR_METADATA) return;
      const info = inlineInfo(e.item.payload);
      let photo: Photo | undefined;
      if (info) {
        const [data] = await pep.items(e.owner, NS_AVATAR_DATA, { ids: [info.id] });
        const text = data?.payload.is("data", NS_AVATAR_DATA) ? data.payload.text() : undefined;
        photo = text !== undefined ? photoFromBase64(info.type, text) : undefined;
        if (!photo || photo.sha1 !== info.id) {
          log.debug("avatar metadata without matching data: vCard unchanged");
          return;
        }
      }
      const vcard = withPhoto(await load(e.owner), photo);
      if (tooLarge(vcard)) {
        log.info("avatar too large for the vCard size limit: vCard unchanged");
        return;
      }
      await save(e.owner, vcard);
    });

    // ---- XEP-0153 §4.1: the hash in every available presence the account sends ----

    ctx.on(
      "presence/broadcast",
      async (ev) => {
        if (!ev.origin || ev.stanza.attrs.type !== undefined) return false;
        try {
          const sha1 = await photoHash(ev.from.bare());
          const p = ev.stanza;
          p.children = p.children.filter((c) => typeof c === "string" || c.ns !== NS_VCARD_UPDATE);
          p.append(updateElement(sha1));
        } catch (err) {
          log.warn({ err: errorSummary(err) }, "avatar hash lookup failed");
        }
        return false;
      },
      25,
    );

    ctx.on("account/deleted", ({ jid }) => void hashes.delete(jid.bareString));
  },
});
