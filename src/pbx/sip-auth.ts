// How this node authenticates phones and answers their REGISTERs, built the same way in
// the primary and in each SIP worker process (sip.workers): the digest policy over the
// extensions' credentials, and the registrar's settings read from the live config.
import type { PbxConfig } from '../config/schema.js';
import type { DigestAlgorithm } from '../sip/digest.js';
import { DigestAuth, type NonceOptions } from './digest-auth.js';
import type { ExtensionService } from './extensions.js';
import type { RegistrarOptions } from './registrar.js';

/** Digest authentication against the enabled extensions; unknown users get decoy algorithms (see Decoys). */
export function extensionDigestAuth(config: () => PbxConfig, extensions: ExtensionService, decoyKey: Buffer, nonces: NonceOptions = {}): DigestAuth {
  // Algorithms in use, for challenging unknown users like real ones (recomputed after a change).
  let inUse: { sets: (readonly DigestAlgorithm[])[]; of: PbxConfig } | undefined;
  extensions.onChange(() => (inUse = undefined));
  const algorithmSets = () => {
    const c = config();
    if (!inUse || inUse.of !== c) {
      inUse = { sets: extensions.list().filter((e) => e.enabled).map((e) => e.digestAlgorithms ?? c.sip.digest_algorithms), of: c };
    }
    return inUse.sets;
  };
  return new DigestAuth(
    () => ({ realm: config().sip.realm, nonceTtlSeconds: config().sip.nonce_ttl_seconds, algorithms: config().sip.digest_algorithms }),
    (username) => {
      const ext = extensions.get(username);
      return ext?.enabled ? { secret: ext.secret, algorithms: ext.digestAlgorithms ?? config().sip.digest_algorithms } : undefined;
    },
    { key: decoyKey, sets: algorithmSets },
    nonces,
  );
}

export function registrarOptions(config: PbxConfig): RegistrarOptions {
  const s = config.sip;
  return {
    minExpires: s.min_expires,
    maxExpires: s.max_expires,
    defaultExpires: s.default_expires,
    maxContacts: s.max_contacts_per_aor,
    supported: ['path', 'outbound', 'gruu'],
  };
}
