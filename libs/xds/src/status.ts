/** The debug view (syncz) of one type on one stream; every field is JSON. */
export interface TypeStatus {
  typeUrl: string;
  wildcard: boolean;
  names: string[];
  /** NOT_SENT: nothing sent yet; SENT: the last response awaits its ACK/NACK; ACKED / NACKED: its answer. */
  state: 'NOT_SENT' | 'SENT' | 'ACKED' | 'NACKED';
  sent?: { version: string; nonce: string; at: string; resources: number; bytes: number };
  acked?: { version: string; nonce: string; at: string };
  /** The last NACK, kept after later ACKs so the debug page still shows what was rejected and why. */
  nack?: {
    version: string;
    rejectedVersion: string;
    nonce: string;
    code: number;
    message: string;
    at: string;
  };
  generateError?: { message: string; at: string };
  /** Per-resource versions: what a delta client holds, or what the last SotW response carried. */
  resourceVersions: Record<string, string>;
}

/** The debug view of one stream. */
export interface ConnectionStatus {
  id: string;
  protocol: 'sotw' | 'delta';
  peer: string;
  connectedAt: string;
  node: {
    id: string;
    cluster: string;
    locality?: { region: string; zone: string; subZone: string };
    userAgentName: string;
    userAgentVersion: string;
    metadata: Record<string, unknown>;
  };
  types: TypeStatus[];
}
