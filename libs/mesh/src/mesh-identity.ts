import * as crypto from 'node:crypto';
import type { Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';
import { MESH_HELLO_NONCE_BYTES } from '@nowconnect/frames';
import type { LinkRole } from './mesh-channels';

/**
 * Mesh peer identity (docs/mesh.md "Identity", issue 13 finding 2). Every replica makes an Ed25519 key
 * pair when it starts and registers the public half in its registry replica record; in the M_HELLO
 * handshake each side signs a transcript binding both replica ids and both sides' fresh nonces, and the
 * other side checks that signature against the key the registry holds for the claimed replica id. The
 * private key never leaves the process; reading the registry is not enough to pass as a replica.
 */

/** Signed-transcript context: changes with the handshake's meaning. */
export const MESH_IDENTITY_CONTEXT = 'nowconnect-mesh-identity-v1';
/** URI SAN prefix naming a replica in a per-replica mesh certificate: `urn:nowconnect:replica:<replica_id>`. */
export const REPLICA_SAN_PREFIX = 'urn:nowconnect:replica:';

/** Why a peer's identity was refused (`mesh_link_failed` reason `identity`, field `detail`). */
export type IdentityRefusal =
  /** The peer sent no identity fields (an identity-less M_HELLO) or a proof where none belongs. */
  | 'no_proof'
  /** The registry holds no live record with a key for the claimed replica id (or could not be asked). */
  | 'unknown_replica'
  /** The signature does not verify against the registered key. */
  | 'bad_proof'
  /** The peer's certificate names replicas (URI SANs) and not the claimed one. */
  | 'cert_mismatch'
  /** The dialer's proof hello changed its replica id or nonce. */
  | 'changed_hello';

/** The peer's registered key, or why there is none. */
export type PeerKeyLookup = { readonly key: crypto.KeyObject } | { readonly key: undefined; readonly why: 'unknown_replica' | 'registry_unavailable' };

/** What a link needs to prove its own replica id and check its peer's. */
export interface MeshIdentity {
  /** Signs `transcript` with this replica's private key (Ed25519, 64 bytes). */
  sign(transcript: Buffer): Buffer;
  /** The key registered for `replicaId` (a fresh registry read: fail closed when it cannot be made). */
  peerKey(replicaId: string): Promise<PeerKeyLookup>;
}

/** This replica's key pair for one run. */
export class MeshKeyPair {
  private constructor(
    private readonly privateKey: crypto.KeyObject,
    /** base64url of the 32 raw public key bytes: what the replica record holds (`meshKey`). */
    readonly publicKeyText: string,
  ) {}

  static generate(): MeshKeyPair {
    const { privateKey, publicKey } = crypto.generateKeyPairSync('ed25519');
    const jwk = publicKey.export({ format: 'jwk' });
    return new MeshKeyPair(privateKey, String(jwk.x));
  }

  sign(transcript: Buffer): Buffer {
    return crypto.sign(null, transcript, this.privateKey);
  }
}

/** The public key in a replica record's `meshKey`, or undefined when it is not one. */
export function parseMeshKey(text: string | undefined): crypto.KeyObject | undefined {
  if (text === undefined || !/^[A-Za-z0-9_-]{43}$/.test(text)) return undefined;
  try {
    return crypto.createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: text }, format: 'jwk' });
  } catch {
    return undefined;
  }
}

export function verifyMeshProof(key: crypto.KeyObject, transcript: Buffer, proof: Buffer): boolean {
  try {
    return crypto.verify(null, transcript, key, proof);
  } catch {
    return false;
  }
}

export function newHelloNonce(): Buffer {
  return crypto.randomBytes(MESH_HELLO_NONCE_BYTES);
}

/**
 * What the side in `signer` role signs: context, its role, its id, the peer's id, the dialer's nonce,
 * the acceptor's nonce (NUL-separated; names never hold NUL). Both nonces are fresh per link, so a
 * proof is good for that one handshake only, and the role keeps an acceptor's proof from serving as a
 * dialer's.
 */
export function helloTranscript(signer: LinkRole, signerId: string, peerId: string, dialerNonce: Buffer, acceptorNonce: Buffer): Buffer {
  return Buffer.concat([Buffer.from(`${MESH_IDENTITY_CONTEXT}\0${signer}\0${signerId}\0${peerId}\0`, 'ascii'), dialerNonce, acceptorNonce]);
}

/**
 * The replica ids the peer's TLS certificate names (`urn:nowconnect:replica:<id>` URI SANs); undefined
 * when the socket is not TLS or the certificate names none (one shared mesh certificate: the key proof
 * alone decides).
 */
export function certReplicaNames(socket: Socket | undefined): string[] | undefined {
  const tls = socket as Partial<TLSSocket> | undefined;
  if (tls === undefined || typeof tls.getPeerCertificate !== 'function') return undefined;
  const san = tls.getPeerCertificate().subjectaltname;
  if (typeof san !== 'string' || san === '') return undefined;
  const names = san
    .split(/,\s*/)
    .filter((e) => e.startsWith(`URI:${REPLICA_SAN_PREFIX}`))
    .map((e) => e.slice(`URI:${REPLICA_SAN_PREFIX}`.length));
  return names.length === 0 ? undefined : names;
}
