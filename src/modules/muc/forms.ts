// Data forms of a room (XEP-0004): the configuration form (XEP-0045 §10.2, muc#roomconfig), the
// room information form in disco (XEP-0045 §15.5.4, muc#roominfo) and the registration form
// (XEP-0045 §7.10, muc#register).
import { StanzaError } from "../../core/errors.js";
import { NS } from "../../core/namespaces.js";
import { x, type Element } from "../../xml/element.js";
import type { PermissionSettings } from "./permissions.js";

export const FORM_ROOMCONFIG = "http://jabber.org/protocol/muc#roomconfig";
export const FORM_ROOMINFO = "http://jabber.org/protocol/muc#roominfo";
export const FORM_REGISTER = "http://jabber.org/protocol/muc#register";

/** A room's settings, as the configuration form edits them. */
export interface RoomConfig extends PermissionSettings {
  name: string;
  description: string;
  /** XEP-0045 §4.2: a persistent room survives its last occupant leaving (and restarts). */
  persistent: boolean;
  /** Listed in the service's disco#items (§4.2 public vs hidden). */
  public: boolean;
  passwordProtected: boolean;
  password: string;
  maxUsers: number;
  /** Messages are kept in the room's archive (XEP-0313) and history (status 170). */
  logging: boolean;
}

/** Settings of a new room (§10.1.2 instant rooms take these as they are). */
export function defaultRoomConfig(maxUsers: number): RoomConfig {
  return {
    name: "",
    description: "",
    persistent: false,
    public: true,
    membersOnly: false,
    passwordProtected: false,
    password: "",
    moderated: false,
    whois: "moderators",
    maxUsers,
    changeSubject: false,
    allowInvites: false,
    allowPm: "anyone",
    logging: true,
  };
}

const bool = (b: boolean) => (b ? "1" : "0");

function field(v: string, type: string, label: string, values: string[], options?: string[]): Element {
  return x(
    "field",
    { var: v, type, label },
    ...values.map((val) => x("value", null, val)),
    ...(options ?? []).map((o) => x("option", { label: o }, x("value", null, o))),
  );
}

/** XEP-0045 §10.2: the configuration form with the room's current values. */
export function configForm(c: RoomConfig, limit: number): Element {
  const sizes = [10, 20, 30, 50, 100, 200, 500, 1000].filter((n) => n <= limit);
  if (!sizes.includes(limit)) sizes.push(limit);
  return x(
    "x",
    { xmlns: NS.DATA, type: "form" },
    x("title", null, "Room configuration"),
    field("FORM_TYPE", "hidden", "", [FORM_ROOMCONFIG]),
    field("muc#roomconfig_roomname", "text-single", "Name", [c.name]),
    field("muc#roomconfig_roomdesc", "text-single", "Description", [c.description]),
    field("muc#roomconfig_persistentroom", "boolean", "Keep the room when the last occupant leaves", [bool(c.persistent)]),
    field("muc#roomconfig_publicroom", "boolean", "List the room publicly", [bool(c.public)]),
    field("muc#roomconfig_membersonly", "boolean", "Only members may enter", [bool(c.membersOnly)]),
    field("muc#roomconfig_passwordprotectedroom", "boolean", "Require a password to enter", [bool(c.passwordProtected)]),
    field("muc#roomconfig_roomsecret", "text-private", "Password", [c.password]),
    field("muc#roomconfig_moderatedroom", "boolean", "Only occupants with voice may speak", [bool(c.moderated)]),
    field("muc#roomconfig_whois", "list-single", "Who may see occupants' real addresses", [c.whois], ["moderators", "anyone"]),
    field("muc#roomconfig_maxusers", "list-single", "Most occupants", [String(c.maxUsers)], sizes.map(String)),
    field("muc#roomconfig_changesubject", "boolean", "Occupants may change the subject", [bool(c.changeSubject)]),
    field("muc#roomconfig_allowinvites", "boolean", "Occupants may invite others", [bool(c.allowInvites)]),
    field("muc#roomconfig_allowpm", "list-single", "Who may send private messages", [c.allowPm], ["anyone", "participants", "moderators", "none"]),
    field("muc#roomconfig_enablelogging", "boolean", "Keep a message archive", [bool(c.logging)]),
  );
}

function parseBool(v: string | undefined, name: string): boolean {
  if (v === "1" || v === "true") return true;
  if (v === "0" || v === "false") return false;
  throw new StanzaError("bad-request", `${name} must be a boolean`); // XEP-0004 §3.3
}

/**
 * Applies a submitted configuration form (XEP-0045 §10.2) to `current`; fields not given keep
 * their value, unknown fields are ignored (XEP-0004 §3.2). Throws bad-request or not-acceptable.
 */
export function parseConfigSubmit(form: Element, current: RoomConfig, limit: number): RoomConfig {
  const c: RoomConfig = { ...current };
  for (const f of form.getChildren("field", NS.DATA)) {
    const name = f.attrs.var ?? "";
    const values = f.getChildren("value", NS.DATA).map((v) => v.text());
    const one = values[0] ?? "";
    switch (name) {
      case "FORM_TYPE":
        if (one !== FORM_ROOMCONFIG) throw new StanzaError("bad-request", "FORM_TYPE must be " + FORM_ROOMCONFIG);
        break;
      case "muc#roomconfig_roomname":
        c.name = one.slice(0, 200);
        break;
      case "muc#roomconfig_roomdesc":
        c.description = one.slice(0, 2000);
        break;
      case "muc#roomconfig_persistentroom":
        c.persistent = parseBool(one, name);
        break;
      case "muc#roomconfig_publicroom":
        c.public = parseBool(one, name);
        break;
      case "muc#roomconfig_membersonly":
        c.membersOnly = parseBool(one, name);
        break;
      case "muc#roomconfig_passwordprotectedroom":
        c.passwordProtected = parseBool(one, name);
        break;
      case "muc#roomconfig_roomsecret":
        c.password = one;
        break;
      case "muc#roomconfig_moderatedroom":
        c.moderated = parseBool(one, name);
        break;
      case "muc#roomconfig_whois":
        if (one !== "moderators" && one !== "anyone") throw new StanzaError("not-acceptable", "whois is moderators or anyone");
        c.whois = one;
        break;
      case "muc#roomconfig_maxusers": {
        // "none" (no limit of the room's own) still has the service's limit
        const n = one === "none" || one === "" ? limit : Number(one);
        if (!Number.isInteger(n) || n < 1) throw new StanzaError("not-acceptable", "maxusers must be a positive number");
        c.maxUsers = Math.min(n, limit);
        break;
      }
      case "muc#roomconfig_changesubject":
        c.changeSubject = parseBool(one, name);
        break;
      case "muc#roomconfig_allowinvites":
        c.allowInvites = parseBool(one, name);
        break;
      case "muc#roomconfig_allowpm":
        if (one !== "anyone" && one !== "participants" && one !== "moderators" && one !== "none") throw new StanzaError("not-acceptable", "allowpm is anyone, participants, moderators or none");
        c.allowPm = one;
        break;
      case "muc#roomconfig_enablelogging":
        c.logging = parseBool(one, name);
        break;
      default:
        break;
    }
  }
  // XEP-0045 §10.2: a password-protected room needs a password
  if (c.passwordProtected && c.password === "") throw new StanzaError("not-acceptable", "A password-protected room needs a password");
  if (!c.passwordProtected) c.password = "";
  return c;
}

/** XEP-0045 §15.5.4: the room information form in disco#info. */
export function roomInfoForm(c: RoomConfig, occupants: number, subject: string): Element {
  return x(
    "x",
    { xmlns: NS.DATA, type: "result" },
    field("FORM_TYPE", "hidden", "", [FORM_ROOMINFO]),
    field("muc#roomconfig_roomname", "text-single", "Name", [c.name]),
    field("muc#roominfo_description", "text-single", "Description", [c.description]),
    field("muc#roominfo_subject", "text-single", "Subject", [subject]),
    field("muc#roominfo_subjectmod", "boolean", "Occupants may change the subject", [bool(c.changeSubject)]),
    field("muc#roominfo_occupants", "text-single", "Number of occupants", [String(occupants)]),
    field("muc#roomconfig_allowinvites", "boolean", "Occupants may invite others", [bool(c.allowInvites)]),
    field("muc#roomconfig_allowpm", "list-single", "Who may send private messages", [c.allowPm]),
  );
}

/** XEP-0045 §7.10: the registration form. */
export function registerForm(): Element {
  return x(
    "x",
    { xmlns: NS.DATA, type: "form" },
    x("title", null, "Register with the room"),
    field("FORM_TYPE", "hidden", "", [FORM_REGISTER]),
    x("field", { var: "muc#register_roomnick", type: "text-single", label: "Nickname" }, x("required")),
  );
}

/** The nickname of a submitted registration form; throws bad-request when missing. */
export function parseRegisterSubmit(form: Element): string {
  let nick: string | undefined;
  for (const f of form.getChildren("field", NS.DATA)) {
    const v = f.getChildren("value", NS.DATA)[0]?.text() ?? "";
    if (f.attrs.var === "FORM_TYPE" && v !== FORM_REGISTER) throw new StanzaError("bad-request", "FORM_TYPE must be " + FORM_REGISTER);
    if (f.attrs.var === "muc#register_roomnick") nick = v.trim();
  }
  if (!nick) throw new StanzaError("not-acceptable", "A nickname is required"); // XEP-0045 §7.10
  return nick;
}
