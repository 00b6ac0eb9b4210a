// XMPP Ping (XEP-0199): the server answers pings to its domain and, on the account's behalf, to
// the sender's own bare JID (XEP-0199 §4.2 client-to-server pings usually go to the domain).
import { defineModule } from "../../core/module.js";
import { StanzaError } from "../../core/errors.js";

export const NS_PING = "urn:xmpp:ping";

export const pingModule = defineModule({
  name: "ping",
  specs: ["XEP-0199"],
  disco: { features: [NS_PING] },
  setup(ctx) {
    // XEP-0199 §4.2: an empty result
    ctx.iq("host", "get", NS_PING, "ping", () => undefined);
    // RFC 6120 §10.3.3: a ping without 'to' is addressed to the sender's account; clients such as
    // profanity ping the server this way. PRIVACY: only the account itself gets an answer, so the
    // reply cannot tell a stranger whether an account exists.
    ctx.iq("account", "get", NS_PING, "ping", (req) => {
      if (!req.from.bare().equals(req.to)) throw new StanzaError("service-unavailable");
      return undefined;
    });
  },
});
