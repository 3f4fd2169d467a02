// What a phone vendor folder provides. Each vendor is one self-contained folder:
// `profile.ts` (this interface) and `templates/*.liquid`. Nothing outside the folder
// knows a vendor's file names, MAC form or keys.
import type { MacForm } from '../../util/mac.js';

export interface ModelInfo {
  /** Model id as admins and the API name it, e.g. `T46S`, `VVX450`, `SPA504G`. */
  id: string;
  /** Number of SIP accounts (lines) the model has. */
  lines: number;
  /** Vendor-specific facts the templates use (common file id, product series …). */
  vars?: Record<string, string | number | boolean>;
  /** Why this model's files are not known to work: set when no source settles its format. */
  experimental?: string;
}

/** `upload`: a per-device file the phone writes (PUT) and reads back; its content is what it sent. */
export type FileKind = 'common' | 'device' | 'upload';

export interface FileRule {
  /**
   * Matches the requested file name (the last path segment), case-insensitively.
   * Device files capture the MAC in a group named `mac`.
   */
  pattern: RegExp;
  kind: FileKind;
  /** Template file in the vendor's templates folder, e.g. `mac.cfg.liquid`. */
  template: string;
  contentType: string;
  /** True when the file carries secrets (SIP passwords): only per-device files may. */
  sensitive: boolean;
  /** For common files named after a model, the model ids the name stands for. */
  modelsFromMatch?: (m: RegExpExecArray) => string[];
}

export interface UserAgentInfo {
  model?: string;
  firmware?: string;
  mac?: string;
}

export interface ResyncEvents {
  /** SIP NOTIFY Event that makes the phone re-fetch without rebooting, when it can. */
  sync: string;
  /** Event that makes the phone reboot. */
  reboot: string;
  /** The phone answers the NOTIFY with a digest challenge (Cisco SPA). */
  challenges: boolean;
}

export interface VendorProfile {
  id: string;
  name: string;
  /** MAC form in this vendor's file names and URLs. */
  macForm: MacForm;
  /** IEEE OUIs, `AA:BB:CC`, to guess the vendor of an unknown phone. */
  ouis: string[];
  models: ModelInfo[];
  /** Output format, for escaping: `xml` escapes markup; `text` strips line breaks. */
  format: 'xml' | 'text';
  /** Files in the order a phone asks for them at boot. */
  files: FileRule[];
  /** The per-device file that carries the SIP account, by MAC (in the vendor's form). */
  deviceFile: (mac: string) => string;
  /** Files a phone of this model fetches at boot, in order (for tests, docs and previews). */
  bootSequence: (model: ModelInfo, mac: string) => string[];
  /**
   * What the templates must know of a firmware version (`firmware.*` in a template), e.g. which
   * generation of keys it reads. Called with undefined when the version is not known yet; the
   * answer must then suit every firmware the vendor ships. Few distinct answers: it keys a cache.
   */
  firmwareVars?: (version: string | undefined) => Record<string, string | number | boolean>;
  /** Recognises this vendor's HTTP User-Agent; null when it is not this vendor's. */
  parseUserAgent: (ua: string) => UserAgentInfo | null;
  resync: ResyncEvents;
  /**
   * Placeholders this vendor's phones expand themselves (Snom `{mac}`, Cisco `$MA`),
   * which may appear literally in rendered files; anything else unresolved is a bug.
   */
  phoneMacros: string[];
  /** One-line hint on how to point this vendor's phones at a provisioning URL. */
  urlHint: string;
  /** Absolute path of the vendor's built-in templates folder. */
  templatesDir: string;
}
