#!/usr/bin/env node
// Fails when an export of a package has no `@example` in its TSDoc (the project's rule: every export
// has TSDoc with an example). Reads the JSON model typedoc writes (`pnpm run docs` writes
// docs/api/api.json). Usage: node scripts/check-examples.mjs [docs/api/api.json] [package…]
import { readFileSync } from "node:fs";

const [file = "docs/api/api.json", ...only] = process.argv.slice(2);
const model = JSON.parse(readFileSync(file, "utf8"));
const tags = (c) => (c?.blockTags ?? []).map((t) => t.tag);
const hasExample = (r) =>
  tags(r.comment).includes("@example") || (r.signatures ?? []).some((s) => tags(s.comment).includes("@example"));
let missing = 0;
// In packages mode the children are the packages (kind 2, Module); for one package, its exports.
const packages = (model.children ?? []).every((c) => c.kind === 2) ? model.children : [model];
for (const pkg of packages) {
  if (only.length && !only.includes(pkg.name)) continue;
  for (const r of pkg.children ?? []) {
    if (!hasExample(r)) {
      missing++;
      console.error(`${pkg.name}: ${r.name} has no @example`);
    }
  }
}
if (missing) {
  console.error(`${missing} export(s) without an @example`);
  process.exit(1);
}
console.log("every export has an @example");
