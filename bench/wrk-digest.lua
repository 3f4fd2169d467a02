-- Phone file fetches the way a provisioned phone makes them, at wrk's speed: GET → 401
-- with a digest challenge → GET with the answer (MD5, qop=auth) → 200. A Node client
-- (one core of JavaScript per 8,000 fetches a second) was the limit before the server was.
-- Used by bench/provisioning.sh; not a test.
--
--   DIGEST_USER=… DIGEST_PASSWORD=… wrk -t16 -c16 -d10s -s bench/wrk-digest.lua http://127.0.0.1:18180/provision/<mac>.cfg
--
-- Run one connection per thread (-t equal to -c): a challenge is then answered on the
-- connection it came on, as a phone does (with HTTP workers, a nonce answered on another
-- connection may reach another process, which has to claim it from its issuer).
-- Prints one JSON line: fetched (200s), challenged (401s), other (any other status), seconds.

local bit = require("bit")
local band, bor, bxor, bnot, rol, tobit = bit.band, bit.bor, bit.bxor, bit.bnot, bit.rol, bit.tobit
local lshift, rshift = bit.lshift, bit.rshift
local byte, char, rep, format = string.byte, string.char, string.rep, string.format

-- MD5 (RFC 1321). wrk's LuaJIT has no hash library; this is the reference algorithm on
-- LuaJIT's 32-bit bit operations (tobit wraps each sum modulo 2^32).
local K, S = {}, {
  7, 12, 17, 22, 7, 12, 17, 22, 7, 12, 17, 22, 7, 12, 17, 22,
  5, 9, 14, 20, 5, 9, 14, 20, 5, 9, 14, 20, 5, 9, 14, 20,
  4, 11, 16, 23, 4, 11, 16, 23, 4, 11, 16, 23, 4, 11, 16, 23,
  6, 10, 15, 21, 6, 10, 15, 21, 6, 10, 15, 21, 6, 10, 15, 21,
}
for i = 0, 63 do K[i] = tobit(math.floor(math.abs(math.sin(i + 1)) * 2 ^ 32)) end

local function le_hex(x)
  return format("%02x%02x%02x%02x", band(x, 255), band(rshift(x, 8), 255), band(rshift(x, 16), 255), band(rshift(x, 24), 255))
end

local X = {}
function md5(msg)
  local len = #msg
  local bits = len * 8
  msg = msg .. "\128" .. rep("\0", (55 - len) % 64)
    .. char(band(bits, 255), band(rshift(bits, 8), 255), band(rshift(bits, 16), 255), band(rshift(bits, 24), 255), 0, 0, 0, 0)
  local a0, b0, c0, d0 = tobit(0x67452301), tobit(0xefcdab89), tobit(0x98badcfe), tobit(0x10325476)
  for chunk = 1, #msg, 64 do
    for i = 0, 15 do
      local b1, b2, b3, b4 = byte(msg, chunk + i * 4, chunk + i * 4 + 3)
      X[i] = bor(b1, lshift(b2, 8), lshift(b3, 16), lshift(b4, 24))
    end
    local A, B, C, D = a0, b0, c0, d0
    for i = 0, 63 do
      local F, g
      if i < 16 then
        F, g = bor(band(B, C), band(bnot(B), D)), i
      elseif i < 32 then
        F, g = bor(band(D, B), band(bnot(D), C)), (5 * i + 1) % 16
      elseif i < 48 then
        F, g = bxor(B, C, D), (3 * i + 5) % 16
      else
        F, g = bxor(C, bor(B, bnot(D))), (7 * i) % 16
      end
      F = tobit(F + A + K[i] + X[g])
      A, D, C = D, C, B
      B = tobit(B + rol(F, S[i + 1]))
    end
    a0, b0, c0, d0 = tobit(a0 + A), tobit(b0 + B), tobit(c0 + C), tobit(d0 + D)
  end
  return le_hex(a0) .. le_hex(b0) .. le_hex(c0) .. le_hex(d0)
end

-- Checked where it is loaded: a wrong hash would make every fetch fail as a wrong password.
assert(md5("") == "d41d8cd98f00b204e9800998ecf8427e" and md5("abc") == "900150983cd24fb0d6963f7d28e17f72"
  and md5(rep("a", 55)) == "ef1772b6dff9a122358552954ad0df65" and md5(rep("a", 56)) == "3b0c8ac703f828b04c6c197006d17218"
  and md5(rep("a", 64)) == "014842d480b571495a4a0363793f7367" and md5(rep("a", 1000)) == "cabe45dcc9ae5b66ba86600cca6b8ba8",
  "md5 self-test failed")

local user, password = os.getenv("DIGEST_USER"), os.getenv("DIGEST_PASSWORD")
local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

-- Per thread (each has its own Lua state): challenges not answered yet, oldest first.
local pending, first, last = {}, 1, 0
local ha1s, ha2, path, cnonces = {}, nil, nil, 0
fetched, challenged, other = 0, 0, 0

function init(args)
  assert(user and password, "set DIGEST_USER and DIGEST_PASSWORD")
  path = wrk.path
  ha2 = md5("GET:" .. path)
end

function request()
  if first > last then return wrk.format("GET", path) end
  local c = pending[first]
  pending[first] = nil
  first = first + 1
  local ha1 = ha1s[c.realm]
  if not ha1 then
    ha1 = md5(user .. ":" .. c.realm .. ":" .. password)
    ha1s[c.realm] = ha1
  end
  cnonces = cnonces + 1
  local cnonce = format("%x", cnonces)
  local response = md5(ha1 .. ":" .. c.nonce .. ":00000001:" .. cnonce .. ":auth:" .. ha2)
  return wrk.format("GET", path, {
    Authorization = format('Digest username="%s", realm="%s", nonce="%s", uri="%s", response="%s", algorithm=MD5, qop=auth, nc=00000001, cnonce="%s"',
      user, c.realm, c.nonce, path, response, cnonce),
  })
end

function response(status, headers, body)
  if status == 200 then
    fetched = fetched + 1
  elseif status == 401 then
    -- The server offers SHA-256 and MD5 with one nonce: either header gives it.
    local h = headers["WWW-Authenticate"] or headers["www-authenticate"] or ""
    local nonce, realm = h:match('nonce="([^"]+)"'), h:match('realm="([^"]+)"')
    if nonce and realm then
      challenged = challenged + 1
      last = last + 1
      pending[last] = { nonce = nonce, realm = realm }
    else
      other = other + 1
    end
  else
    other = other + 1
  end
end

function done(summary, latency, requests)
  local f, c, o = 0, 0, 0
  for _, t in ipairs(threads) do
    f, c, o = f + t:get("fetched"), c + t:get("challenged"), o + t:get("other")
  end
  io.write(format('{"fetched":%d,"challenged":%d,"other":%d,"seconds":%.3f}\n', f, c, o, summary.duration / 1e6))
end
