// XML namespaces used by the core (RFC 6120, RFC 6121) in one place.
export const NS = {
  CLIENT: "jabber:client",
  STREAM: "http://etherx.jabber.org/streams",
  TLS: "urn:ietf:params:xml:ns:xmpp-tls",
  SASL: "urn:ietf:params:xml:ns:xmpp-sasl",
  BIND: "urn:ietf:params:xml:ns:xmpp-bind",
  SESSION: "urn:ietf:params:xml:ns:xmpp-session",
  STANZAS: "urn:ietf:params:xml:ns:xmpp-stanzas",
  STREAMS: "urn:ietf:params:xml:ns:xmpp-streams",
  FRAMING: "urn:ietf:params:xml:ns:xmpp-framing",
  DISCO_INFO: "http://jabber.org/protocol/disco#info",
  DISCO_ITEMS: "http://jabber.org/protocol/disco#items",
  DATA: "jabber:x:data",
  DELAY: "urn:xmpp:delay",
  CAPS: "http://jabber.org/protocol/caps",
} as const;
