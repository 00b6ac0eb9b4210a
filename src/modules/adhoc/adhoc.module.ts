// Ad-hoc commands (XEP-0050) on the server's domain: the command list in service discovery
// (§2.2, §2.3), single-stage execution (§3.3.1 "completed") and a form stage before it (§3.4);
// modules add commands through
// the "adhoc" service.
import { randomBytes } from "node:crypto";
import { defineModule, type IqRequest } from "../../core/module.js";
import { StanzaError } from "../../core/errors.js";
import { NS } from "../../core/namespaces.js";
import type { Jid } from "../../jid/jid.js";
import { x, type Element } from "../../xml/element.js";
import type { DiscoService } from "../disco/disco.module.js";

export const NS_COMMANDS = "http://jabber.org/protocol/commands";

/** What a command answers: a note to show and, optionally, result payloads (a data form, OOB). */
export interface CommandResult {
  note?: { type: "info" | "warn" | "error"; text: string };
  payloads?: Element[];
  /**
   * The command needs another step (XEP-0050 §3.4 multi-stage): the answer has status
   * "executing" and offers "complete"; the client sends its form back with the same sessionid.
   */
  executing?: boolean;
}

/** One command of the domain. */
export interface AdhocCommand {
  /** The node that names it (XEP-0050 §2.2). */
  node: string;
  /** Human-readable name for command lists. */
  name: string;
  /** Whether `from` may see and run it on `host` (checked for both). */
  allowed(from: Jid, host: string, req?: IqRequest): Promise<boolean> | boolean;
  /** Runs the command; throws a StanzaError to refuse. */
  execute(req: IqRequest): Promise<CommandResult> | CommandResult;
}

/** The "adhoc" service. */
export interface AdhocService {
  add(command: AdhocCommand): void;
}

export const adhocModule = defineModule({
  name: "adhoc",
  specs: ["XEP-0050"],
  after: ["disco"],
  disco: { features: [NS_COMMANDS] },
  setup(ctx) {
    const commands = new Map<string, AdhocCommand>();
    const disco = ctx.use<DiscoService>("disco");
    const visible = async (from: Jid, host: string) => {
      const out: AdhocCommand[] = [];
      for (const c of commands.values()) if (await c.allowed(from, host)) out.push(c);
      return out;
    };
    // XEP-0050 §2.2: the list of commands the requester may run
    disco?.addNode(NS_COMMANDS, {
      items: async (from, host) => (await visible(from, host)).map((c) => ({ jid: host, node: c.node, name: c.name })),
      info: () => ({ identities: [{ category: "automation", type: "command-list" }], features: [] }),
    });

    ctx.provide<AdhocService>("adhoc", {
      add(command) {
        if (commands.has(command.node)) throw new Error(`ad-hoc command ${command.node} added twice`);
        commands.set(command.node, command);
        // XEP-0050 §2.3: a command's own disco#info
        disco?.addNode(command.node, {
          info: async (from, host) =>
            (await command.allowed(from, host))
              ? { identities: [{ category: "automation", type: "command-node", name: command.name }], features: [NS_COMMANDS, NS.DATA] }
              : undefined,
        });
      },
    });

    ctx.iq("host", "set", NS_COMMANDS, "command", async (req) => {
      const node = req.payload.attrs.node ?? "";
      const command = commands.get(node);
      // XEP-0050 §4.4: an unknown command is item-not-found; one not for this requester is forbidden
      if (!command) throw new StanzaError("item-not-found");
      if (!(await command.allowed(req.from, req.to.domain, req))) throw new StanzaError("forbidden");
      const sessionid = req.payload.attrs.sessionid ?? randomBytes(12).toString("base64url");
      const action = req.payload.attrs.action ?? "execute";
      // XEP-0050 §3.5: cancelling a (single-stage) command
      if (action === "cancel") return x("command", { xmlns: NS_COMMANDS, node, sessionid, status: "canceled" });
      if (action !== "execute" && action !== "complete") throw new StanzaError("bad-request", "Unknown action");
      const result = await command.execute(req);
      return x(
        "command",
        { xmlns: NS_COMMANDS, node, sessionid, status: result.executing ? "executing" : "completed" },
        // XEP-0050 §3.4: the actions the next stage allows
        result.executing ? x("actions", { execute: "complete" }, x("complete")) : null,
        result.note ? x("note", { type: result.note.type }, result.note.text) : null,
        ...(result.payloads ?? []),
      );
    });
  },
});
