// XMPP Ping (XEP-0199): the server answers pings to its domain and, on the account's behalf, to
// bare JIDs (XEP-0199 §4.2 client-to-server pings usually go to the domain).
import { defineModule } from "../../core/module.js";

export const NS_PING = "urn:xmpp:ping";

export const pingModule = defineModule({
  name: "ping",
  specs: ["XEP-0199"],
  disco: { features: [NS_PING] },
  setup(ctx) {
    // XEP-0199 §4.2: an empty result
    ctx.iq("host", "get", NS_PING, "ping", () => undefined);
  },
});
