// The vendors this server provisions. Adding a vendor = adding its folder and one line here.
import type { FileRule, ModelInfo, VendorProfile } from './types.js';
import { cisco } from './cisco/profile.js';
import { fanvil } from './fanvil/profile.js';
import { grandstream } from './grandstream/profile.js';
import { polycom } from './polycom/profile.js';
import { snom } from './snom/profile.js';
import { yealink } from './yealink/profile.js';
import { zultys } from './zultys/profile.js';

const ALL: VendorProfile[] = [yealink, zultys, polycom, cisco, grandstream, snom, fanvil];

export interface FileMatch {
  vendor: VendorProfile;
  rule: FileRule;
  match: RegExpExecArray;
}

export interface Identified {
  vendor: VendorProfile;
  model?: string;
  mac?: string;
  firmware?: string;
}

export class VendorRegistry {
  private readonly byId = new Map<string, VendorProfile>();

  constructor(readonly vendors: VendorProfile[] = ALL) {
    for (const v of vendors) this.byId.set(v.id, v);
  }

  get(id: string): VendorProfile | undefined {
    return this.byId.get(id.toLowerCase());
  }

  model(vendorId: string, modelId: string): ModelInfo | undefined {
    const wanted = normalizeModel(modelId);
    return this.get(vendorId)?.models.find((m) => normalizeModel(m.id) === wanted);
  }

  /** Every vendor rule whose pattern matches the file name. */
  matchFile(fileName: string): FileMatch[] {
    const out: FileMatch[] = [];
    for (const vendor of this.vendors)
      for (const rule of vendor.files) {
        const match = rule.pattern.exec(fileName);
        if (match) out.push({ vendor, rule, match });
      }
    return out;
  }

  private readonly uaCache = new Map<string, Identified | undefined>();

  /** Vendor (and model, when it says) from an HTTP User-Agent; a phone sends the same one each time. */
  identify(userAgent: string): Identified | undefined {
    if (this.uaCache.has(userAgent)) return this.uaCache.get(userAgent);
    const found = this.identifyUncached(userAgent);
    if (this.uaCache.size >= 10_000) this.uaCache.clear();
    this.uaCache.set(userAgent, found);
    return found;
  }

  private identifyUncached(userAgent: string): Identified | undefined {
    for (const vendor of this.vendors) {
      const info = vendor.parseUserAgent(userAgent);
      if (info) {
        const model = info.model ? this.model(vendor.id, info.model)?.id ?? info.model : undefined;
        return { vendor, model, mac: info.mac, firmware: info.firmware };
      }
    }
    return undefined;
  }

  /** Vendor guessed from the MAC's OUI. */
  byOui(oui: string): VendorProfile | undefined {
    return this.vendors.find((v) => v.ouis.includes(oui));
  }
}

/** `SIP-T46S`, `t46s` and `T46S` name the same model. */
export function normalizeModel(model: string): string {
  return model.toUpperCase().replace(/^SIP-/, '').replace(/[\s_-]/g, '');
}
