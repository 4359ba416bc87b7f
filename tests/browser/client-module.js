// Checks of the client module that need no browser (run by scripts/browser-test before the
// browser tests, and on their own with `node tests/browser/client-module.js`):
// - every export of sfu/web/client.js is declared in client.d.ts and every declared value is
//   exported (the declarations cannot drift from the module);
// - every error code of signalling-proto/PROTOCOL.md §8 has a human-readable message, and the
//   d.ts `ErrorCode` union lists exactly those codes;
// - package.json points at both files;
// - decodeToken reads a token made by the same rules as the server's (base64url JSON claims),
//   and refuses what is not a token; describeError turns codes and details into sentences.

import { readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const web = path.join(root, "sfu/web");
const client = await import(path.join(web, "client.js"));
const dts = readFileSync(path.join(web, "client.d.ts"), "utf8");
const protocol = readFileSync(path.join(root, "signalling-proto/PROTOCOL.md"), "utf8");
const pkg = JSON.parse(readFileSync(path.join(web, "package.json"), "utf8"));

const failures = [];
const check = (ok, what) => {
  if (!ok) failures.push(what);
};

// Exports vs declarations.
const exported = new Set(Object.keys(client));
const declared = new Set([...dts.matchAll(/^export declare (?:const|function|class) (\w+)/gm)].map((m) => m[1]));
for (const name of exported) check(declared.has(name), `client.js exports ${name}, client.d.ts does not declare it`);
for (const name of declared) check(exported.has(name), `client.d.ts declares ${name}, client.js does not export it`);

// Error codes: PROTOCOL.md §8's table.
const section = protocol.slice(protocol.indexOf("## 8. Error codes"), protocol.indexOf("## 9."));
const codes = [...section.matchAll(/^\| `([a-z_]+)` \|/gm)].map((m) => m[1]);
check(codes.length > 40, `PROTOCOL.md §8 lists ${codes.length} codes (expected more than 40)`);
for (const code of codes) {
  const text = client.ERROR_MESSAGES[code];
  check(typeof text === "string" && text.length > 10 && !text.includes("_"), `no readable message for ${code}: ${text}`);
  check(client.describeError({ code }) === text, `describeError(${code})`);
}
for (const code of Object.keys(client.ERROR_MESSAGES)) check(codes.includes(code), `message for ${code}, which PROTOCOL.md §8 does not list`);
const union = dts.slice(dts.indexOf("export type ErrorCode"), dts.indexOf(";", dts.indexOf("export type ErrorCode")));
const unionCodes = [...union.matchAll(/"([a-z_]+)"/g)].map((m) => m[1]).sort();
check(JSON.stringify(unionCodes) === JSON.stringify([...codes].sort()), `ErrorCode union differs from PROTOCOL.md §8: ${unionCodes.filter((c) => !codes.includes(c))} / ${codes.filter((c) => !unionCodes.includes(c))}`);
check(/30 s/.test(client.describeError({ code: "rate_limited", details: { retryAfterMs: 29_500 } })), "rate_limited names the wait");
check(client.describeError({ code: "invalid_argument", details: { field: "roomName", reason: "too_long" } }).includes("roomName"), "invalid_argument names the field");
check(client.describeError(new Error("plain")) === "plain", "a plain Error keeps its message");
const error = new client.SfuError("join_room", { code: "room_full", message: "max_participants reached" });
check(error.description === client.ERROR_MESSAGES.room_full && error.code === "room_full", "SfuError.description");

// Package.
check(pkg.type === "module" && pkg.exports?.["."]?.default === "./client.js" && pkg.exports["."].types === "./client.d.ts", "package.json exports");
check(pkg.files?.includes("client.js") && pkg.files.includes("client.d.ts"), "package.json files");

// Tokens.
const b64url = (value) => Buffer.from(JSON.stringify(value)).toString("base64url");
const token = `${b64url({ alg: "HS256", typ: "JWT" })}.${b64url({ room: "standup-42", sub: "ada-1", role: "host", name: "Ada Lovelace \u00e9", exp: 2_000_000_000 })}.c2ln`;
const claims = client.decodeToken(token);
check(claims.room === "standup-42" && claims.identity === "ada-1" && claims.role === "host", `decodeToken claims ${JSON.stringify(claims)}`);
check(claims.name === "Ada Lovelace \u00e9", `decodeToken reads UTF-8 names: ${claims.name}`);
check(claims.expiresAt?.getTime() === 2_000_000_000_000, "decodeToken expiry");
for (const bad of ["", "abc", "a.b", "a.!!!.c", `${b64url({})}.${Buffer.from("not json").toString("base64url")}.x`]) {
  let threw = null;
  try {
    client.decodeToken(bad);
  } catch (e) {
    threw = e;
  }
  check(threw && /token/.test(threw.message), `decodeToken(${JSON.stringify(bad)}) refuses with a readable message`);
}

// Quality rule.
check(client.rateQuality({ packets: 100, lossFraction: 0, jitterMs: 5 }) === "good", "no loss is good");
check(client.rateQuality({ packets: 100, lossFraction: 0.05, jitterMs: 5 }) === "fair", "5 % loss is fair");
check(client.rateQuality({ packets: 100, lossFraction: 0.2, jitterMs: 5 }) === "poor", "20 % loss is poor");
check(client.rateQuality({ packets: 0, lossFraction: 0, jitterMs: 0 }) === "unknown", "nothing received is unknown");

if (failures.length) {
  console.log(`FAIL    client module checks\n${failures.map((f) => `        ${f}`).join("\n")}`);
  process.exit(1);
}
console.log(`PASS    client module checks (${exported.size} exports declared, ${codes.length} error codes worded)`);
