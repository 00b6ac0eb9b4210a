// Software version (XEP-0092). PRIVACY/security: the operating system is not disclosed unless the
// operator turns `server.version.hideOs` off (XEP-0092 §5 lets the server omit it).
import os from "node:os";
import { defineModule } from "../../core/module.js";
import { x } from "../../xml/element.js";
import { WARBLER_VERSION } from "../../core/version.js";

export const NS_VERSION = "jabber:iq:version";


export const versionModule = defineModule({
  name: "version",
  specs: ["XEP-0092"],
  disco: { features: [NS_VERSION] },
  setup(ctx) {
    const v = ctx.config.server.version;
    const osName = `${os.type()} ${os.release()}`;
    ctx.iq("host", "get", NS_VERSION, "query", () =>
      x(
        "query",
        { xmlns: NS_VERSION },
        x("name", null, v.name),
        x("version", null, WARBLER_VERSION),
        v.hideOs ? null : x("os", null, osName),
      ),
    );
  },
});
