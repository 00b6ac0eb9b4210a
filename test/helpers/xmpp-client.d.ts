// Minimal typings for @xmpp/client 0.14 (it ships none): only what the tests use.
declare module "@xmpp/client" {
  export interface XmlElement {
    name: string;
    attrs: Record<string, string | undefined>;
    children: (XmlElement | string)[];
    is(name: string, xmlns?: string): boolean;
    getChild(name: string, xmlns?: string): XmlElement | undefined;
    getChildren(name: string, xmlns?: string): XmlElement[];
    getChildText(name: string, xmlns?: string): string | null;
    getText(): string;
    toString(): string;
    getNS(): string;
  }
  export function xml(name: string, attrs?: Record<string, string | undefined> | null, ...children: (XmlElement | string | null | undefined)[]): XmlElement;
  export interface JID {
    local: string;
    domain: string;
    resource: string;
    toString(): string;
    bare(): JID;
  }
  export interface Client {
    jid: JID | null;
    status: string;
    start(): Promise<JID>;
    stop(): Promise<void>;
    send(...el: XmlElement[]): Promise<void>;
    on(event: "stanza", fn: (el: XmlElement) => void): void;
    on(event: "error" | "offline" | "online" | "status" | "element" | "nonza" | "input" | "output", fn: (arg: any) => void): void;
    removeAllListeners(event?: string): void;
    iqCaller: { request(el: XmlElement, timeout?: number): Promise<XmlElement> };
    iqCallee: { get(ns: string, name: string, fn: (ctx: any) => unknown): void; set(ns: string, name: string, fn: (ctx: any) => unknown): void };
    reconnect: { stop(): void; delay: number };
    streamManagement: { enabled: boolean };
    socket: { end(): void; destroy(): void } | null;
    disconnect(timeout?: number): Promise<void>;
  }
  export function client(options: {
    service: string;
    domain?: string;
    resource?: string;
    username?: string;
    password?: string;
    credentials?: (auth: (c: { username: string; password: string }) => Promise<void>, mechanism: string) => Promise<void>;
  }): Client;
  export function jid(s: string): JID;
}
