import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseConfigText } from '../../src/config/load.ts';
import { sampleContext } from '../../src/provisioning/phone-files.ts';
import { liquidEngine, TemplateCatalog, TemplateError } from '../../src/provisioning/templates.ts';
import { VendorRegistry } from '../../src/provisioning/vendors/index.ts';
import { tempDir } from '../helpers/server.ts';

const config = parseConfigText('', '/etc/pbx/config.yml');
const registry = new VendorRegistry();
const yealink = registry.get('yealink')!;

function catalog(customDir = '') {
  return new TemplateCatalog(registry, () => customDir, (v, m, t) =>
    sampleContext(config, v, m ? registry.model(v.id, m) : undefined, v.files.some((f) => f.template === t && f.kind === 'device') ? 'device' : 'common'),
  );
}

test('every built-in template loads and passes the variable check', () => {
  assert.doesNotThrow(() => catalog().loadAll());
});

test('a custom template with an unknown variable is refused at load, naming the file and the variable', () => {
  const dir = tempDir();
  mkdirSync(join(dir, 'yealink', 'T46S'), { recursive: true });
  const file = join(dir, 'yealink', 'T46S', 'mac.cfg.liquid');
  writeFileSync(file, '#!version:1.0.0.1\naccount.1.password = {{ line.pasword }}\n');
  const err = (() => {
    try {
      catalog(dir).loadAll();
    } catch (e) {
      return e;
    }
  })();
  assert.ok(err instanceof TemplateError);
  assert.equal(err.file, file);
  assert.equal(err.variable, 'line.pasword');
  assert.match(err.message, /line 2/);
});

test('unknown variables inside loops and unknown filters are refused too', () => {
  const c = catalog();
  assert.throws(() => c.check(yealink, 'T46S', 'mac.cfg.liquid', '{% for l in lines %}{{ l.pw }}{% endfor %}'), /unknown variable "l\.pw"/);
  assert.throws(() => c.check(yealink, 'T46S', 'mac.cfg.liquid', '{{ line.user | shout }}'), /shout/);
  assert.throws(() => c.check(yealink, 'T46S', 'mac.cfg.liquid', '{% if %}'), /syntax error/);
  assert.throws(() => c.check(yealink, 'T46S', 'common.cfg.liquid', '{{ line.password }}'), /unknown variable "line\.password"/, 'common files have no account variables');
});

test('a custom template overrides the built-in one, model-specific before vendor-wide', () => {
  const dir = tempDir();
  mkdirSync(join(dir, 'yealink', 'T54W'), { recursive: true });
  writeFileSync(join(dir, 'yealink', 'mac.cfg.liquid'), 'vendor-wide {{ line.number }}\n');
  writeFileSync(join(dir, 'yealink', 'T54W', 'mac.cfg.liquid'), 'model {{ line.number }}\n');
  const c = catalog(dir);
  c.loadAll();
  assert.equal(c.get(yealink, 'T54W', 'mac.cfg.liquid')!.source, 'model {{ line.number }}\n');
  assert.equal(c.get(yealink, 'T46S', 'mac.cfg.liquid')!.source, 'vendor-wide {{ line.number }}\n');
  assert.equal(c.get(yealink, 'T46S', 'mac.cfg.liquid')!.custom, true);
  assert.equal(c.get(yealink, 'T46S', 'common.cfg.liquid')!.custom, false);
});

test('text formats cannot be broken by a value with a line break', () => {
  const c = catalog();
  const tpl = c.get(yealink, 'T46S', 'mac.cfg.liquid')!;
  const ctx = sampleContext(config, yealink, registry.model('yealink', 'T46S'), 'device') as any;
  ctx.lines[0].name = 'Evil\naccount.1.sip_server.1.address = attacker.example';
  const out = tpl.engine.renderSync(tpl.parsed, ctx) as string;
  assert.doesNotMatch(out, /^account\.1\.sip_server\.1\.address = attacker/m);
  assert.match(out, /^account\.1\.display_name = Evil account\.1\.sip_server/m);
});

test('XML formats escape markup in values', () => {
  const xmlVendor = registry.vendors.find((v) => v.format === 'xml');
  if (!xmlVendor) return assert.fail('no XML vendor registered');
  const c = catalog();
  const rule = xmlVendor.files.find((f) => f.kind === 'device' && f.sensitive)!;
  const model = xmlVendor.models[0]!;
  const tpl = c.get(xmlVendor, model.id, rule.template)!;
  const ctx = sampleContext(config, xmlVendor, model, 'device') as any;
  ctx.lines[0].name = 'A & B <script>"x"</script>';
  const out = tpl.engine.renderSync(tpl.parsed, ctx) as string;
  assert.ok(!out.includes('<script>'));
  assert.ok(out.includes('A &amp; B &lt;script&gt;'));
});

test('repeat_numbered writes a block once per number, the marker replaced, and refuses what it cannot do', () => {
  const engine = liquidEngine({ roots: [yealink.templatesDir], xml: false });
  const render = (src: string, ctx: object = {}) => engine.parseAndRenderSync(src, ctx) as string;
  assert.equal(render(`{{ 'a.{n}.x = {n}\n' | repeat_numbered: '{n}', 3, 5 | raw }}`), 'a.3.x = 3\na.4.x = 4\na.5.x = 5\n');
  assert.equal(render(`{{ 'a.{n}\n' | repeat_numbered: '{n}', from, to | raw }}`, { from: 2, to: 1 }), '', 'from after to: nothing');
  assert.throws(() => render(`{{ 'x' | repeat_numbered: '', 1, 2 }}`), /marker must be a non-empty string/);
  assert.throws(() => render(`{{ 'x' | repeat_numbered: '{n}', 1, 'many' }}`), /whole numbers/);
  assert.throws(() => render(`{{ 'x' | repeat_numbered: '{n}', 1, 5000 }}`), /more than 1000 copies/);
});

test('a Yealink file switches off exactly the accounts its device does not use', () => {
  const tpl = catalog().get(yealink, 'T46S', 'mac.cfg.liquid')!;
  const ctx = sampleContext(config, yealink, registry.model('yealink', 'T46S'), 'device') as any;
  for (const used of [1, 3, 16]) {
    const out = tpl.engine.renderSync(tpl.parsed, { ...ctx, lines: ctx.lines.slice(0, used) }) as string;
    const off = [...out.matchAll(/^account\.(\d+)\.enable = 0$/gm)].map((m) => Number(m[1]));
    assert.deepEqual(off, Array.from({ length: 16 - used }, (_, i) => used + 1 + i), `${used} lines used`);
    assert.equal(out.match(/^account\.\d+\.password = %NULL%$/gm)?.length ?? 0, 16 - used);
  }
});
