// Server administration by ad-hoc command (XEP-0133 Service Administration) for the accounts
// listed in `admins`: "Delete a User" (§4.2) runs the same account lifecycle as XEP-0077
// <remove/> and `warbler deluser`, and reports what was removed.
import { defineModule } from "../../core/module.js";
import { StanzaError } from "../../core/errors.js";
import { NS } from "../../core/namespaces.js";
import { tryParseJid, type Jid } from "../../jid/jid.js";
import { x, type Element } from "../../xml/element.js";
import type { AdhocService } from "../adhoc/adhoc.module.js";

/** XEP-0133 §4.2. */
export const NODE_DELETE_USER = "http://jabber.org/protocol/admin#delete-user";
const FORM_TYPE = "http://jabber.org/protocol/admin";

/** The values of a field of a submitted form. */
function fieldValues(form: Element, name: string): string[] {
  const f = form.getChildren("field").find((e) => e.attrs.var === name);
  return f ? f.getChildren("value").map((v) => v.text().trim()).filter((v) => v !== "") : [];
}

export const adminModule = defineModule({
  name: "admin",
  specs: ["XEP-0133"],
  after: ["adhoc"],
  setup(ctx) {
    const admins = new Set(ctx.config.admins);
    // An admin acts on its own host only.
    const isAdmin = (from: Jid, host: string): boolean => admins.has(from.bareString) && from.domain === host;
    ctx.use<AdhocService>("adhoc")?.add({
      node: NODE_DELETE_USER,
      name: "Delete a User",
      allowed: (from, host) => isAdmin(from, host),
      async execute(req) {
        const form = req.payload.getChild("x", NS.DATA);
        if (!form || form.attrs.type !== "submit") {
          // XEP-0133 §4.2: the form asking which accounts to delete
          return {
            executing: true,
            payloads: [
              x(
                "x",
                { xmlns: NS.DATA, type: "form" },
                x("title", null, "Deleting a User"),
                x("instructions", null, "Fill out this form to delete a user. Everything the account owns is deleted with it."),
                x("field", { type: "hidden", var: "FORM_TYPE" }, x("value", null, FORM_TYPE)),
                x("field", { type: "jid-multi", label: "The Jabber ID(s) to delete", var: "accountjids" }, x("required")),
              ),
            ],
          };
        }
        const jids = fieldValues(form, "accountjids");
        if (jids.length === 0) throw new StanzaError("bad-request", "No account given");
        const done: string[] = [];
        for (const raw of jids) {
          const j = tryParseJid(raw);
          // only accounts of the admin's own host
          if (!j || j.local === "" || j.domain !== req.to.domain) throw new StanzaError("not-acceptable", `Not an account of ${req.to.domain}: ${raw}`);
          if (!(await ctx.accounts.exists(j.bare()))) throw new StanzaError("item-not-found", `No such account: ${j.bareString}`);
        }
        for (const raw of jids) {
          const j = tryParseJid(raw)!.bare();
          const removed = await ctx.accounts.delete(j);
          const total = Object.values(removed).reduce((a, b) => a + b, 0);
          done.push(`${j.bareString} (${total} records)`);
          ctx.log.info({ user: j.bareString, by: req.from.bareString, removed: total }, "account deleted by an administrator");
        }
        return { note: { type: "info", text: `Deleted ${done.join(", ")}.` } };
      },
    });
  },
});
