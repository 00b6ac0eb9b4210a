// Entity time (XEP-0202): the server's UTC time and offset, for clients correcting clock skew.
import { defineModule } from "../../core/module.js";
import { x } from "../../xml/element.js";

export const NS_TIME = "urn:xmpp:time";

/** XEP-0082 offset form of a time zone offset in minutes east of UTC ("Z" for zero). */
export function tzo(offsetMinutesEast: number): string {
  if (offsetMinutesEast === 0) return "Z";
  const sign = offsetMinutesEast > 0 ? "+" : "-";
  const m = Math.abs(offsetMinutesEast);
  return `${sign}${String(Math.floor(m / 60)).padStart(2, "0")}:${String(m % 60).padStart(2, "0")}`;
}

export const timeModule = defineModule({
  name: "time",
  specs: ["XEP-0202", "XEP-0082"],
  disco: { features: [NS_TIME] },
  setup(ctx) {
    ctx.iq("host", "get", NS_TIME, "time", () => {
      const now = new Date();
      // XEP-0202 §4: <tzo/> and <utc/> (XEP-0082 DateTime in UTC)
      return x(
        "time",
        { xmlns: NS_TIME },
        x("tzo", null, tzo(-now.getTimezoneOffset())),
        x("utc", null, now.toISOString().replace(/\.\d{3}Z$/, "Z")),
      );
    });
  },
});
