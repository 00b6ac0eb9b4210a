// Message delivery rules for local accounts (RFC 6121 §8.5): to bare JIDs, to full JIDs, to the
// server itself, by message type. Undeliverable chat/normal messages raise "message/offline".
import { defineModule } from "../../core/module.js";
import { StanzaError } from "../../core/errors.js";
import type { StanzaEvent } from "../../core/events.js";
import type { Core } from "../../core/core.js";
import type { Session } from "../../core/session.js";

/** Message types as RFC 6121 §5.2.2 reads them: unknown or absent means "normal". */
export function messageType(t: string | undefined): "chat" | "error" | "groupchat" | "headline" | "normal" {
  return t === "chat" || t === "error" || t === "groupchat" || t === "headline" ? t : "normal";
}

/** Available resources with non-negative priority (RFC 6121 §8.5.2.1.1). */
export function deliverableSessions(core: Core, bare: StanzaEvent["to"]): Session[] {
  return core.sessionsOf(bare).filter((s) => s.available && s.priority >= 0);
}

export const messageModule = defineModule({
  name: "message",
  specs: ["RFC 6121 §8.5"],
  setup(ctx) {
    const core = ctx.core;

    // RFC 6121 §8.5.2: a local bare JID
    const toBare = async (ev: StanzaEvent): Promise<boolean> => {
      const type = messageType(ev.stanza.attrs.type);
      const targets = deliverableSessions(core, ev.to);
      // core.accountExists asks storage only when the account has no session (hot path)
      if (targets.length === 0 && !(await core.accountExists(ev.to))) {
        // RFC 6121 §8.5.1: no such account; errors and headlines are dropped silently
        if (type === "error" || type === "headline") return true;
        throw new StanzaError("service-unavailable");
      }
      switch (type) {
        case "groupchat":
          throw new StanzaError("service-unavailable"); // RFC 6121 §8.5.2.1.2
        case "error":
          return true; // RFC 6121 §8.5.2.1.1: an error message to a bare JID is silently ignored
        case "headline":
          for (const s of targets) core.deliver(s, ev.stanza); // RFC 6121 §8.5.2.1.3; none: dropped
          return true;
        default:
          // RFC 6121 §8.5.2.1.1: chat and normal go to all non-negative available resources
          if (targets.length > 0) {
            for (const s of targets) core.deliver(s, ev.stanza);
            return true;
          }
          // RFC 6121 §8.5.2.2.1: no available resource — offline storage if a module takes it,
          // otherwise service-unavailable
          if (await core.events.emit("message/offline", ev)) return true;
          throw new StanzaError("service-unavailable");
      }
    };
    ctx.on("message/bare", toBare, -100);

    // RFC 6121 §8.5.3: a local full JID
    ctx.on(
      "message/full",
      async (ev) => {
        const s = core.sessionFor(ev.to);
        const type = messageType(ev.stanza.attrs.type);
        if (s && type !== "groupchat") {
          core.deliver(s, ev.stanza);
          return true;
        }
        switch (type) {
          case "normal":
          case "chat":
          case "headline":
            // RFC 6121 §8.5.3.2.1: treat as addressed to the bare JID
            return toBare({ ...ev, to: ev.to.bare() });
          case "groupchat":
            if (s) {
              // §8.5.3.1: a groupchat message to a full JID of a user is delivered only by rooms
              core.deliver(s, ev.stanza);
              return true;
            }
            throw new StanzaError("service-unavailable"); // RFC 6121 §8.5.3.2.1
          default:
            return true; // errors to an absent resource are dropped
        }
      },
      -100,
    );

    // RFC 6120 §10.3: messages to the server itself are not for anyone; chat/normal get an error
    ctx.on(
      "message/host",
      (ev) => {
        const type = messageType(ev.stanza.attrs.type);
        if (type === "error" || type === "headline") return true;
        throw new StanzaError("service-unavailable");
      },
      -100,
    );
  },
});
