// Server-side SASL (RFC 4422, RFC 6120 §6): a mechanism is a small state machine fed the
// client's decoded responses. Credentials come from the account store as SCRAM keys only.

export type SaslFailureCondition =
  | "aborted"
  | "account-disabled"
  | "credentials-expired"
  | "encryption-required"
  | "incorrect-encoding"
  | "invalid-authzid"
  | "invalid-mechanism"
  | "malformed-request"
  | "mechanism-too-weak"
  | "not-authorized"
  | "temporary-auth-failure";

export type SaslStep =
  | { kind: "challenge"; data: Buffer }
  /** `data` is the additional data with success (SCRAM server-final-message). */
  | { kind: "success"; username: string; data?: Buffer }
  | { kind: "failure"; condition: SaslFailureCondition; text?: string };

/** SCRAM keys for one hash function (RFC 5802 §3). */
export interface ScramKeys {
  storedKey: Buffer;
  serverKey: Buffer;
}

/**
 * What the account store keeps for a password: salt, iteration count, keys per hash. Accounts
 * created here have both; accounts imported from Prosody or ejabberd (XEP-0227) may have SHA-1
 * keys only: they log in with SCRAM-SHA-1 or PLAIN, and SCRAM-SHA-256 fails for them like a
 * wrong password. At least one hash is always present.
 */
export interface ScramCredentials {
  salt: Buffer;
  iterations: number;
  "SHA-1"?: ScramKeys;
  "SHA-256"?: ScramKeys;
}

/** Credentials derived from a password here: keys for every hash. */
export type FullScramCredentials = ScramCredentials & { "SHA-1": ScramKeys; "SHA-256": ScramKeys };

export type ScramHash = "SHA-1" | "SHA-256";

/** Channel binding data of the current TLS connection (RFC 5929, RFC 9266). */
export interface ChannelBinding {
  /** Types this connection can provide, e.g. ["tls-exporter", "tls-server-end-point"]. */
  types: string[];
  get(type: string): Buffer | undefined;
}

export interface SaslContext {
  /** Looks up credentials for a normalized username; undefined if the account does not exist. */
  getCredentials(username: string): Promise<ScramCredentials | undefined>;
  /** Normalizes a username (RFC 7622 localpart); throws or returns undefined if invalid. */
  normalizeUsername(username: string): string | undefined;
  /** Channel binding of the connection; undefined when not on TLS. */
  channelBinding?: ChannelBinding;
  /** True when -PLUS mechanisms were offered (a client sending gs2 flag "y" then fails: downgrade). */
  plusOffered: boolean;
  /** Secret used to derive stable fake salts for unknown users (no account enumeration). */
  fakeSaltSecret: Buffer;
  /** Default iteration count reported for unknown users. */
  iterations: number;
  /**
   * Called after a successful PLAIN login of an account whose credentials lack a hash (imported
   * with SHA-1 keys only), with the verified password, so the missing keys can be added.
   */
  completeCredentials?(username: string, password: string): Promise<void>;
  /**
   * The host's domain. When set, an authzid equal to the bare JID `user@domain` of the
   * authenticating user is accepted as well as the plain username (RFC 6120 §6.3.8).
   */
  domain?: string;
}

export interface SaslMechanism {
  readonly name: string;
  /** First step, with the optional initial response (undefined if none was sent, "=" gives empty). */
  start(initial: Buffer | undefined): Promise<SaslStep>;
  step(response: Buffer): Promise<SaslStep>;
}
