// In-band registration (XEP-0077): account creation before authentication (open, closed, or by
// invitation per XEP-0401 pre-authenticated registration), password change, and <remove/>.
import { randomBytes, timingSafeEqual } from "node:crypto";
import { REPLIED, defineModule, kv, type IqHandler } from "../../core/module.js";
import { StanzaError, errorReply } from "../../core/errors.js";
import { NS } from "../../core/namespaces.js";
import { Jid, JidError } from "../../jid/jid.js";
import { x, type Element } from "../../xml/element.js";
import type { Session } from "../../core/session.js";

export const NS_REGISTER = "jabber:iq:register";
export const NS_REGISTER_FEATURE = "http://jabber.org/features/iq-register";
/** XEP-0401 §5: pre-authenticated roster subscription / registration token. */
export const NS_PARS = "urn:xmpp:pars:0";
export const NS_IBR_TOKEN = "urn:xmpp:ibr-token:0";

/** An invitation, stored per host under its token. */
export interface Invite {
  /** ms since epoch after which the invite is void. */
  expires: number;
}

/** Invitations are valid this long by default. */
export const INVITE_TTL_MS = 7 * 24 * 3600 * 1000;

/** What the "register" module offers the CLI and other modules. */
export interface RegisterService {
  createInvite(host: string, ttlMs?: number): Promise<string>;
}

const TOKEN_KEY = "register.token";

export const registerModule = defineModule({
  name: "register",
  specs: ["XEP-0077", "XEP-0401"],
  disco: { features: [NS_REGISTER] },
  stores: {
    invites: kv({
      owner: "host",
      purpose: "Invitation tokens an administrator created, until they are used or expire",
      retention: { kind: "duration", ms: INVITE_TTL_MS },
      export: false,
    }),
  },
  setup(ctx) {
    const cfg = ctx.config.registration;
    const invites = ctx.stores.invites;
    const inviteKey = (host: string, token: string) => `${host}/${token}`;

    const service: RegisterService = {
      async createInvite(host, ttlMs = INVITE_TTL_MS) {
        const token = randomBytes(18).toString("base64url");
        await invites.set(inviteKey(host, token), { expires: Date.now() + ttlMs } satisfies Invite);
        return token;
      },
    };
    ctx.provide("register", service);

    const validInvite = async (host: string, token: string): Promise<boolean> => {
      if (!/^[A-Za-z0-9_-]{8,64}$/.test(token)) return false;
      const inv = (await invites.get(inviteKey(host, token))) as Invite | undefined;
      return inv !== undefined && inv.expires > Date.now();
    };

    // XEP-0077 §4: the stream feature announces registration before authentication
    ctx.streamFeature("pre-auth", () => {
      if (cfg.mode === "closed") return undefined;
      return cfg.mode === "invite" ? x("register", { xmlns: NS_IBR_TOKEN }) : x("register", { xmlns: NS_REGISTER_FEATURE });
    });

    const form = () =>
      x(
        "query",
        { xmlns: NS_REGISTER },
        x("instructions", null, "Choose a user name and password."),
        x("username"),
        x("password"),
      );

    const reply = (session: Session, stanza: Element, payload?: Element) =>
      session.send(x("iq", { xmlns: NS.CLIENT, type: "result", id: stanza.attrs.id }, payload ?? null));

    // XEP-0401 §5.2: a pre-auth token sent before registration
    ctx.preAuthIq(NS_PARS, async (session, stanza) => {
      const token = stanza.getChild("preauth", NS_PARS)?.attrs.token ?? "";
      if (stanza.attrs.type !== "set") return session.send(errorReply(stanza, new StanzaError("bad-request")));
      if (!(await validInvite(session.host, token))) {
        return session.send(errorReply(stanza, new StanzaError("item-not-found", "Invalid or expired invitation")));
      }
      session.data.set(TOKEN_KEY, token);
      reply(session, stanza);
    });

    // XEP-0077 §3.1: registration before authentication
    ctx.preAuthIq(NS_REGISTER, async (session, stanza) => {
      const type = stanza.attrs.type;
      const query = stanza.getChild("query", NS_REGISTER);
      if (!query || (type !== "get" && type !== "set")) return session.send(errorReply(stanza, new StanzaError("bad-request")));
      try {
        if (cfg.mode === "closed") throw new StanzaError("not-allowed", "Registration is closed"); // XEP-0077 §3.1 not-allowed
        if (type === "get") return reply(session, stanza, form());
        if (query.getChild("remove")) throw new StanzaError("registration-required"); // §3.2: not registered
        let token: string | undefined;
        if (cfg.mode === "invite") {
          token = (session.data.get(TOKEN_KEY) as string | undefined) ?? query.getChildText("token")?.trim();
          if (!token || !(await validInvite(session.host, token))) throw new StanzaError("not-allowed", "An invitation is required");
        }
        const addr = session.transport.remoteAddress;
        if (!ctx.core.registrationThrottle.allowed(addr)) {
          throw new StanzaError("policy-violation", "Too many registrations from your address; try later");
        }
        const username = query.getChildText("username") ?? "";
        const password = query.getChildText("password") ?? "";
        // XEP-0077 §3.1 not-acceptable: required information missing
        if (username === "" || password === "") throw new StanzaError("not-acceptable", "User name and password are required");
        if ([...password].length < cfg.minPasswordLength) {
          throw new StanzaError("not-acceptable", `The password must have at least ${cfg.minPasswordLength} characters`);
        }
        let jid: Jid;
        try {
          jid = new Jid(username, session.host);
        } catch (err) {
          if (err instanceof JidError) throw new StanzaError("jid-malformed", "Invalid user name"); // XEP-0077 §3.1
          throw err;
        }
        await ctx.accounts.create(jid, password);
        ctx.core.registrationThrottle.failed(addr);
        if (token) {
          await invites.set(inviteKey(session.host, token), undefined); // single use
          session.data.delete(TOKEN_KEY);
        }
        ctx.log.info({ user: jid.bareString }, "account registered");
        await ctx.core.events.emit("account/created", { jid });
        reply(session, stanza);
      } catch (err) {
        if (err instanceof StanzaError) return session.send(errorReply(stanza, err));
        throw err;
      }
    });

    // After authentication: get (registered), password change (§3.3), remove (§3.2). Clients send
    // these to the domain or with no 'to' at all (then the core routes them to the account).
    const getRegistered: IqHandler = (req) => x("query", { xmlns: NS_REGISTER }, x("registered"), x("username", null, req.from.local));
    const setRegistration: IqHandler = async (req) => {
      const q = req.payload;
      if (!req.origin || req.from.domain !== req.to.domain) throw new StanzaError("forbidden");
      // To an account: only one's own (XEP-0077 §3.2 "based on the bare JID associated with the session")
      if (req.to.local !== "" && !req.to.equals(req.from.bare())) throw new StanzaError("forbidden");
      const account = req.from.bare();
      if (q.getChild("remove")) {
        // XEP-0077 §3.2: <remove/> must be the only child
        if (q.elements().length !== 1) throw new StanzaError("bad-request");
        // The result goes out before the sessions end (XEP-0077 §3.2 example flow)
        req.origin.send(x("iq", { xmlns: NS.CLIENT, type: "result", id: req.stanza.attrs.id }));
        await ctx.accounts.delete(account);
        return REPLIED;
      }
      const username = q.getChildText("username");
      const password = q.getChildText("password") ?? "";
      // XEP-0077 §3.3: the username must be the user's own; an empty password keeps the old one
      if (username === undefined || password === "") throw new StanzaError("bad-request");
      if (username.toLowerCase() !== account.local && username.toLowerCase() !== account.bareString) throw new StanzaError("not-authorized");
      if ([...password].length < cfg.minPasswordLength) throw new StanzaError("not-acceptable", `At least ${cfg.minPasswordLength} characters`);
      if (!req.origin.transport.secure && ctx.config.c2s.requireTls) throw new StanzaError("not-authorized"); // §3.3 unsafe channel
      await ctx.accounts.setPassword(account, password);
      ctx.log.info({ user: account.bareString }, "password changed");
      return undefined;
    };
    for (const target of ["host", "account"] as const) {
      ctx.iq(target, "get", NS_REGISTER, "query", getRegistered);
      ctx.iq(target, "set", NS_REGISTER, "query", setRegistration);
    }
  },
});
