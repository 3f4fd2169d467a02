// Real HTTP User-Agent strings per vendor (shapes from ../shared/reference/vendor-user-agents.md,
// taken from captures quoted in Wazo provd's plugins), filled in for a given model and MAC.
import { formatMac } from '../../src/util/mac.ts';
import type { VendorProfile } from '../../src/provisioning/vendors/types.ts';

const FIRMWARE: Record<string, string> = { T23G: '44.84.0.140', T28G: '2.70.0.140', T33G: '124.85.257.55', T46S: '66.86.0.15', T54W: '96.86.0.70' };

export function userAgentFor(vendor: string, model: string, mac: string): string {
  switch (vendor) {
    case 'yealink':
      return `Yealink SIP-${model} ${FIRMWARE[model] ?? '66.86.0.15'} ${formatMac(mac, 'colon')}`;
    case 'zultys':
      return `Zultys ${model.replace(/^ZIP/, 'ZIP ')} 47.80.132.4 ${formatMac(mac, 'colon')}`;
    case 'polycom':
      return `FileTransport PolycomVVX-${model.replace(/^VVX/, 'VVX_')}-UA/6.3.1.8427 Type/Application`;
    case 'cisco':
      return `Cisco/${model}-7.5.5 (${mac.toUpperCase()})(CBT141400UK)`;
    case 'grandstream':
      return `Grandstream Model HW ${model} V1.1A SW 1.0.17.5 DevId ${mac}`;
    case 'snom':
      return `Mozilla/4.0 (compatible; snom${model}-SIP 10.1.33.33 2010.12-00004-g9ba52f5 ${mac.toUpperCase()} SXM:0 UXM:0)`;
    case 'fanvil':
      return `Fanvil ${model} 2.12.16.17 ${mac}`;
    default:
      throw new Error(`no User-Agent sample for ${vendor}`);
  }
}

/** A MAC in the vendor's first OUI, made unique by `n`. */
export function macFor(vendor: VendorProfile, n: number): string {
  const oui = vendor.ouis[0]!.replace(/:/g, '').toLowerCase();
  return oui + n.toString(16).padStart(6, '0');
}
