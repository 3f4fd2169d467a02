import { createHmac, createSecretKey, hash, randomBytes } from 'node:crypto';
const key = randomBytes(32); const ko = createSecretKey(key);
const data = randomBytes(16); const addr = '127.0.0.1';
const N = 300000;
function t(name: string, f: () => unknown) { for (let i=0;i<20000;i++) f(); const s = process.hrtime.bigint(); for (let i=0;i<N;i++) f(); const ns = Number(process.hrtime.bigint()-s)/N; console.log(name, ns.toFixed(0), 'ns'); }
t('hmac buf key', () => createHmac('sha256', key).update(data).update(addr).digest());
t('hmac keyobj', () => createHmac('sha256', ko).update(data).update(addr).digest());
const scratch = Buffer.alloc(32+16+64+32);
key.copy(scratch, 0);
t('hash envelope', () => { data.copy(scratch, 32); const n = scratch.write(addr, 48, 'latin1'); key.copy(scratch, 48+n); return hash('sha256', scratch.subarray(0, 48+n+32), 'buffer'); });
t('md5 hex short', () => hash('md5', 'REGISTER:sip:127.0.0.1:5060', 'hex'));
t('md5 hex long', () => hash('md5', 'c0ffee0123456789c0ffee0123456789:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA:00000001:abcdef:auth:c0ffee0123456789c0ffee0123456789', 'hex'));
