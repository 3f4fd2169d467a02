// A simulated desk phone: fetches its boot files over real HTTP with its vendor's
// User-Agent from the provisioning server it knows, reads its SIP account and the
// provisioning server key from the file like the vendor's firmware does, registers
// over real UDP, and answers a resync NOTIFY like the vendor (Cisco SPA challenges
// it with 401 first), then fetches again.
import { createHash, randomBytes } from 'node:crypto';
import { VendorRegistry } from '../../src/provisioning/vendors/index.ts';
import { formatMac } from '../../src/util/mac.ts';
import { TestUa, type SipRequestIn } from './sip-client.ts';
import { userAgentFor } from './phones.ts';
import { fetchWithDigest, type Credential } from './http-digest.ts';

const registry = new VendorRegistry();

/**
 * The provisioning keys' prefix a Yealink firmware reads: `static.` from generation 81 (the
 * second number of the version), none before (Wazo's v73/v80 plugins, FusionPBX's T28P).
 */
function yealinkPrefix(userAgent: string): string {
  const generation = Number(/\s\d+\.(\d+)\.\d+\.\d+/.exec(userAgent)?.[1] ?? 0);
  return generation >= 81 ? 'static\\.' : '';
}

/** Each vendor's provisioning-server key, as the phone reads it from its file. */
const SERVER_KEY: Record<string, (file: string, userAgent: string) => string | undefined> = {
  yealink: (f, ua) => new RegExp(`^${yealinkPrefix(ua)}auto_provision\\.server\\.url = (\\S+?)\\/?$`, 'm').exec(f)?.[1],
  zultys: (f, ua) => SERVER_KEY.yealink!(f, ua),
  polycom: (f) => /device\.prov\.serverName="([^"]+?)\/?"/.exec(f)?.[1],
  cisco: (f) => /<Profile_Rule>(?:\[[^\]]*\])?(.+?)\/\$MA\.xml<\/Profile_Rule>/.exec(f)?.[1],
  grandstream: (f) => {
    const path = /<P237>([^<]+)<\/P237>/.exec(f)?.[1];
    const https = /<P212>2<\/P212>/.test(f);
    return path ? `${https ? 'https' : 'http'}://${path}` : undefined;
  },
  snom: (f) => /<setting_server[^>]*>(.+)\/[^/<]+<\/setting_server>/.exec(f)?.[1],
  fanvil: (f) => /<FlashServerIP>([^<]+)<\/FlashServerIP>/.exec(f)?.[1],
};

/** Each vendor's provisioning credential keys (docs/PROVISIONING.md), as the phone reads them. */
const CREDENTIAL_KEYS: Record<string, (file: string, userAgent: string) => [string | undefined, string | undefined]> = {
  yealink: (f, ua) => [
    new RegExp(`^${yealinkPrefix(ua)}auto_provision\\.server\\.username = (.*)$`, 'm').exec(f)?.[1],
    new RegExp(`^${yealinkPrefix(ua)}auto_provision\\.server\\.password = (.*)$`, 'm').exec(f)?.[1],
  ],
  zultys: (f, ua) => CREDENTIAL_KEYS.yealink!(f, ua),
  polycom: (f) => [/device\.prov\.user="([^"]*)"/.exec(f)?.[1], /device\.prov\.password="([^"]*)"/.exec(f)?.[1]],
  cisco: (f) => {
    const m = /<Profile_Rule>\[--uid (\S+) --pwd (\S+)\]/.exec(f);
    return [m?.[1], m?.[2]];
  },
  grandstream: (f) => [/<P1360>([^<]*)</.exec(f)?.[1], /<P1361>([^<]*)</.exec(f)?.[1]],
  snom: (f) => [/<http_client_user[^>]*>([^<]*)</.exec(f)?.[1], /<http_client_pass[^>]*>([^<]*)</.exec(f)?.[1]],
  fanvil: (f) => [/<DefaultUsername>([^<]*)</.exec(f)?.[1], /<DefaultPassword>([^<]*)</.exec(f)?.[1]],
};

export class SimPhone {
  /** Where this phone believes its provisioning server is. */
  baseUrl: string;
  /** Every request it made; `optional` ones may be 404 (files the firmware asks for only in case). */
  readonly fetches: { url: string; status: number; optional?: boolean }[] = [];
  readonly notifies: SipRequestIn[] = [];
  account: { user: string; password: string; server: string; port: number } | undefined;
  /** The provisioning credential its file gave it (none before its first file). */
  credential: Credential | undefined;
  sip: TestUa | undefined;
  private challengeNonce: string | undefined;

  constructor(
    readonly vendor: string,
    readonly model: string,
    readonly mac: string,
    baseUrl: string,
  ) {
    this.baseUrl = baseUrl;
  }

  get userAgent(): string {
    return userAgentFor(this.vendor, this.model, this.mac);
  }

  /** Cisco's four profile rules (A–D) as its last files set them; the factory A is /spa$PSN.cfg. */
  private ciscoRules: string[] | undefined;

  /** Snom: the setting_server URL its files set (a fresh phone is pointed at snom<model>.htm). */
  private snomSettingServer: string | undefined;

  /** A factory-fresh phone's first boot: as `provision`, from the URL DHCP or the admin gave it. */
  async boot(): Promise<void> {
    await this.provision();
  }

  /** The boot sequence from the known server; learns the account and the server key. */
  async provision(): Promise<void> {
    const profile = registry.get(this.vendor)!;
    const model = registry.model(this.vendor, this.model)!;
    const vmac = formatMac(this.mac, profile.macForm);
    let accountFile = '';
    if (this.vendor === 'cisco') accountFile = await this.ciscoResync(profile.bootSequence(model, vmac)[0]!, vmac);
    else if (this.vendor === 'snom') accountFile = await this.snomResync(vmac);
    else if (this.vendor === 'polycom') accountFile = await this.polycomResync(vmac);
    else {
      for (const name of profile.bootSequence(model, vmac)) {
        const body = await this.fetchFile(`${this.baseUrl}/${name}`, this.credential);
        if (name === profile.deviceFile(vmac)) accountFile = body;
      }
    }
    if (!accountFile) throw new Error(`${this.vendor} ${this.model}: no file with its account in this resync`);
    const next = SERVER_KEY[this.vendor]!(accountFile, this.userAgent);
    if (!next) throw new Error(`${this.vendor}: no provisioning server key in its file`);
    this.baseUrl = next.replace(/\/$/, '');
    this.account = readAccount(this.vendor, accountFile);
    const [user, password] = CREDENTIAL_KEYS[this.vendor]!(accountFile, this.userAgent);
    if (!user || !password) throw new Error(`${this.vendor}: no provisioning credential in its file`);
    this.credential = { user, password };
  }

  private async fetchFile(url: string, credential: Credential | undefined, optional = false): Promise<string> {
    const res = await fetchWithDigest(url, credential, { 'user-agent': this.userAgent });
    const body = await res.text();
    this.fetches.push({ url, status: res.status, ...(optional ? { optional } : {}) });
    if (optional && res.status === 404) return '';
    if (res.status !== 200) throw new Error(`${this.vendor} ${this.model}: ${url} → ${res.status}`);
    return body;
  }

  /**
   * One Snom provisioning run: fetch setting_server (the phone expands {mac} there, Snom's
   * documented place for it); a <setting-files> answer names files fetched as written (no
   * expansion). A run that only moved setting_server is followed by the next run when
   * settings_refresh_timer fires (the sim does not wait: it checks the timer is short).
   */
  private async snomResync(vmac: string): Promise<string> {
    let url = this.snomSettingServer ?? `${this.baseUrl}/snom${this.model}.htm`;
    for (let run = 0; run < 3; run++) {
      const first = await this.fetchFile(url.replace(/\{mac\}/g, vmac), this.credential);
      const listed = [...first.matchAll(/<file url="([^"]+)"/g)].map((m) => m[1]!);
      const bodies = listed.length > 0 ? [] : [first];
      for (const u of listed) bodies.push(await this.fetchFile(u, this.credential));
      const all = bodies.join('\n');
      const server = /<setting_server[^>]*>([^<]+)<\/setting_server>/.exec(all)?.[1];
      if (/<user_pname idx="1"[^>]*>[^<]+</.test(all)) {
        this.snomSettingServer = server;
        return all;
      }
      if (!server || server === url) return '';
      const timer = Number(/<settings_refresh_timer[^>]*>(\d+)</.exec(all)?.[1] ?? 0);
      if (!(timer > 0 && timer <= 300)) throw new Error(`snom: setting_server moved to ${server} but the next run is ${timer} s away`);
      url = server;
    }
    return '';
  }

  /**
   * One Polycom boot: its master file <mac>.cfg, then the CONFIG_FILES it lists
   * ([PHONE_MAC_ADDRESS] expanded), then the override files the phone itself uploads
   * (<mac>-phone.cfg, <mac>-web.cfg), which may not exist yet.
   */
  private async polycomResync(vmac: string): Promise<string> {
    const master = await this.fetchFile(`${this.baseUrl}/${vmac}.cfg`, this.credential);
    const listed = (/CONFIG_FILES="([^"]*)"/.exec(master)?.[1] ?? '').split(',').map((s) => s.trim()).filter(Boolean);
    let accountFile = '';
    for (const name of listed) {
      const body = await this.fetchFile(`${this.baseUrl}/${name.replace('[PHONE_MAC_ADDRESS]', vmac)}`, this.credential);
      if (/reg\.1\.auth\.userId="[^"]+"/.test(body)) accountFile = body;
    }
    for (const name of [`${vmac}-phone.cfg`, `${vmac}-web.cfg`]) await this.fetchFile(`${this.baseUrl}/${name}`, this.credential, true);
    return accountFile;
  }

  /**
   * One Cisco resync, as the SPA/ATA firmware does it: fetch Profile_Rule's target, then
   * _B, _C and _D in order, each time with the rules the files fetched so far set, and the
   * credential a rule carries (`[--uid U --pwd P]url`). Returns the file with the account.
   */
  private async ciscoResync(firstFile: string, vmac: string): Promise<string> {
    const rules = this.ciscoRules ?? [`${this.baseUrl}/${firstFile}`, '', '', ''];
    let accountFile = '';
    for (let i = 0; i < 4; i++) {
      const rule = rules[i]!.trim();
      if (!rule) continue;
      const m = /^(?:\[--uid (\S+) --pwd (\S+)\])?(\S+)$/.exec(rule);
      if (!m) throw new Error(`cisco: cannot read profile rule ${rule}`);
      const url = m[3]!.replace('$MA', vmac);
      const body = await this.fetchFile(url, m[1] ? { user: m[1], password: m[2]! } : undefined);
      for (const [j, key] of ['Profile_Rule', 'Profile_Rule_B', 'Profile_Rule_C', 'Profile_Rule_D'].entries()) {
        const v = new RegExp(`<${key}>([^<]*)</${key}>`).exec(body);
        if (v) rules[j] = v[1]!;
      }
      if (/<User_ID_1_>[^<]+<\/User_ID_1_>/.test(body)) accountFile = body;
    }
    this.ciscoRules = rules;
    return accountFile;
  }

  /** Registers with the account from its file; answers NOTIFYs like the vendor. */
  async register(): Promise<void> {
    const a = this.account!;
    this.sip = await new TestUa({ host: a.server, port: a.port }, a.user, a.password).open();
    this.sip.onRequest = (req) => this.answer(req);
    const r = await this.sip.register({ expires: 300 });
    if (r.reply.status !== 200) throw new Error(`${this.vendor}: REGISTER → ${r.reply.status}`);
  }

  close(): void {
    this.sip?.close();
  }

  private answer(req: SipRequestIn) {
    if (req.method !== 'NOTIFY') return { status: 200, reason: 'OK' };
    if (this.vendor === 'cisco') {
      // Cisco SPA: Resync_From_SIP requests are challenged; only an authenticated NOTIFY is obeyed.
      const auth = req.headers.get('authorization')?.[0];
      if (!auth || !this.challengeNonce || !this.validDigest(auth, req.uri)) {
        this.challengeNonce = randomBytes(8).toString('hex');
        return { status: 401, reason: 'Unauthorized', extra: [`WWW-Authenticate: Digest realm="${this.mac}", nonce="${this.challengeNonce}", algorithm=MD5, qop="auth"`] };
      }
    }
    this.notifies.push(req);
    void this.provision().catch(() => {});
    return { status: 200, reason: 'OK' };
  }

  private validDigest(header: string, uri: string): boolean {
    const p = (k: string) => new RegExp(`${k}="?([^",]+)"?`).exec(header)?.[1] ?? '';
    const md5 = (s: string) => createHash('md5').update(s).digest('hex');
    const ha1 = md5(`${this.account!.user}:${this.mac}:${this.account!.password}`);
    const ha2 = md5(`NOTIFY:${p('uri') || uri}`);
    const expected = md5(`${ha1}:${this.challengeNonce}:${p('nc')}:${p('cnonce')}:auth:${ha2}`);
    return p('username') === this.account!.user && p('nonce') === this.challengeNonce && p('response') === expected;
  }
}

/** The SIP account as each vendor's firmware reads it from its file. */
function readAccount(vendor: string, f: string) {
  const m = (re: RegExp) => re.exec(f)?.[1];
  const hostPort = (v: string | undefined, fallbackPort?: string) => {
    const [h, p] = (v ?? '').split(':');
    return { server: h!, port: Number(p ?? fallbackPort ?? 5060) };
  };
  switch (vendor) {
    case 'yealink':
    case 'zultys':
      return {
        user: m(/^account\.1\.auth_name = (.*)$/m)!,
        password: m(/^account\.1\.password = (.*)$/m)!,
        server: m(/^account\.1\.sip_server\.1\.address = (.*)$/m)!,
        port: Number(m(/^account\.1\.sip_server\.1\.port = (.*)$/m)),
      };
    case 'polycom':
      return {
        user: m(/reg\.1\.auth\.userId="([^"]*)"/)!,
        password: m(/reg\.1\.auth\.password="([^"]*)"/)!,
        server: m(/reg\.1\.server\.1\.address="([^"]*)"/)!,
        port: Number(m(/reg\.1\.server\.1\.port="([^"]*)"/)),
      };
    case 'cisco':
      return { user: m(/<Auth_ID_1_>([^<]*)</)!, password: m(/<Password_1_>([^<]*)</)!, ...hostPort(m(/<Proxy_1_>([^<]*)</)) };
    case 'grandstream':
      return { user: m(/<P36>([^<]*)</)!, password: m(/<P34>([^<]*)</)!, ...hostPort(m(/<P47>([^<]*)</)) };
    case 'snom':
      return { user: m(/<user_pname idx="1"[^>]*>([^<]*)</)!, password: m(/<user_pass idx="1"[^>]*>([^<]*)</)!, ...hostPort(m(/<user_host idx="1"[^>]*>([^<]*)</)) };
    case 'fanvil':
      return {
        user: m(/<RegisterUser>([^<]*)</)!,
        password: m(/<RegisterPswd>([^<]*)</)!,
        server: m(/<RegisterAddr>([^<]*)</)!,
        port: Number(m(/<RegisterPort>([^<]*)</)),
      };
    default:
      throw new Error(`no account reader for ${vendor}`);
  }
}
