// SPDX-License-Identifier: LGPL-2.1-or-later
// s3rver (web/node_modules, a filesystem-backed S3 server) on 127.0.0.1 for
// the S3 client's tests, with one bucket in a temporary directory and
// s3rver's credentials (S3RVER / S3RVER).
//
//   node --openssl-legacy-provider s3rver.mjs --bucket NAME [--port N] [--page-size N]
//
// (s3rver's ListObjectsV2 continuation tokens are DES-encrypted, which
// OpenSSL 3 keeps in its legacy provider: without the flag, a listing that
// runs to a second page fails with a 500.)
// Prints the bound port (--port 0, the default: a free one) on stdout as one
// line once it accepts requests; exits when stdin closes or on SIGTERM.
//
// s3rver 3.7.1 checks a SigV4 request's key id, its x-amz-content-sha256
// and its clock skew, but not its signature ("V4 signatures have incomplete
// support"), and has neither ListMultipartUploads nor AbortMultipartUpload.
// So that the tests prove what S3 would, this front:
//  - verifies each header-signed request's signature as S3 does (canonical
//    URI and query rebuilt from the request as received, every x-amz-*
//    header signed), answering 403 SignatureDoesNotMatch otherwise;
//  - answers GET /bucket?uploads and DELETE /bucket/key?uploadId= from
//    s3rver's own store of uploads in progress;
//  - with --page-size, makes listings (both kinds) return pages of at most
//    that many entries, so that clients must follow them.
import { createCipheriv, createHash, createHmac } from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';

const root = process.env.MIRROR_SOURCE_ROOT;
if (!root) {
  console.error('s3rver.mjs: MIRROR_SOURCE_ROOT is not set');
  process.exit(2);
}
const require = createRequire(path.join(root, 'web', 'package.json'));
const S3rver = require('s3rver');

const args = { port: '0', bucket: '', 'page-size': '0' };
for (let i = 2; i < process.argv.length; i += 2) {
  const name = process.argv[i].replace(/^--/, '');
  if (!(name in args) || i + 1 >= process.argv.length) {
    console.error(`s3rver.mjs: bad argument ${process.argv[i]}`);
    process.exit(2);
  }
  args[name] = process.argv[i + 1];
}
if (!args.bucket) {
  console.error('s3rver.mjs: --bucket is required');
  process.exit(2);
}
const bucket = args.bucket;
const pageSize = Number(args['page-size']);
const region = 'us-east-1';
const secrets = new Map([['S3RVER', 'S3RVER']]); // s3rver's one account

try {
  createCipheriv('des', Buffer.alloc(8), Buffer.alloc(8));
} catch {
  console.error('s3rver.mjs: DES is unavailable; run node with --openssl-legacy-provider');
  process.exit(2);
}

const directory = fs.mkdtempSync(path.join(os.tmpdir(), 'mirror-s3rver-'));
process.on('exit', () => fs.rmSync(directory, { recursive: true, force: true }));
process.on('SIGTERM', () => process.exit(0));
process.on('SIGINT', () => process.exit(0));
process.stdin.on('end', () => process.exit(0));
process.stdin.on('error', () => process.exit(0));
process.stdin.resume();

const s3rver = new S3rver({
  silent: true,
  directory,
  vhostBuckets: false,
  configureBuckets: [{ name: bucket }],
});
await s3rver.configureBuckets();
const s3rverHandler = s3rver.callback();

function xmlEscape(s) {
  return String(s).replace(
    /[<>&'"]/g,
    c => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', "'": '&apos;', '"': '&quot;' })[c],
  );
}

function sendError(res, status, code, message) {
  const body =
    '<?xml version="1.0" encoding="UTF-8"?>\n' +
    `<Error><Code>${xmlEscape(code)}</Code><Message>${xmlEscape(message)}</Message></Error>`;
  res.writeHead(status, {
    'Content-Type': 'application/xml',
    'Content-Length': Buffer.byteLength(body),
  });
  res.end(body);
}

function sendXml(res, body) {
  const text = '<?xml version="1.0" encoding="UTF-8"?>\n' + body;
  res.writeHead(200, {
    'Content-Type': 'application/xml',
    'Content-Length': Buffer.byteLength(text),
  });
  res.end(text);
}

// S3's URI encoding: all but A-Z a-z 0-9 - _ . ~ as %XX.
function uriEncode(s) {
  return encodeURIComponent(s).replace(
    /[!'()*]/g,
    c => '%' + c.charCodeAt(0).toString(16).toUpperCase(),
  );
}

// Strict percent-decoding ('+' is a plus, as S3 reads a path); null if bad.
function decode(s) {
  try {
    return decodeURIComponent(s);
  } catch {
    return null;
  }
}

// The raw query as [name, value] pairs, decoded; null if malformed.
function queryPairs(rawQuery) {
  if (!rawQuery) return [];
  const pairs = [];
  for (const part of rawQuery.split('&')) {
    const eq = part.indexOf('=');
    const name = decode(eq < 0 ? part : part.slice(0, eq));
    const value = decode(eq < 0 ? '' : part.slice(eq + 1));
    if (name === null || value === null) return null;
    pairs.push([name, value]);
  }
  return pairs;
}

const hmac = (key, data) => createHmac('sha256', key).update(data).digest();

// null if the signature is S3's, else [code, message].
function checkSignature(req) {
  const auth = req.headers['authorization'];
  // s3rver judges the rest, and answers a missing payload hash.
  if (!auth || !auth.startsWith('AWS4-HMAC-SHA256 ')) return null;
  if (!('x-amz-content-sha256' in req.headers)) return null;
  const fields = new Map(
    auth
      .slice('AWS4-HMAC-SHA256 '.length)
      .split(',')
      .map(f => f.trim().split('='))
      .map(([k, ...v]) => [k, v.join('=')]),
  );
  const credential = (fields.get('Credential') || '').split('/');
  const signedHeaders = (fields.get('SignedHeaders') || '').split(';');
  const signature = fields.get('Signature') || '';
  if (credential.length !== 5 || !signature) {
    return ['AuthorizationHeaderMalformed', 'The authorization header is malformed.'];
  }
  const [keyId, date, credRegion, service, terminator] = credential;
  const secret = secrets.get(keyId);
  if (secret === undefined) return null; // s3rver answers InvalidAccessKeyId
  if (credRegion !== region || service !== 's3' || terminator !== 'aws4_request') {
    return [
      'AuthorizationHeaderMalformed',
      `The authorization header is malformed; the region '${credRegion}' is wrong; expecting '${region}'`,
    ];
  }
  const amzDate = req.headers['x-amz-date'] || '';
  if (!amzDate.startsWith(date)) {
    return ['AuthorizationHeaderMalformed', 'The credential date does not match x-amz-date.'];
  }
  if (!signedHeaders.includes('host')) {
    return ['AccessDenied', 'The host header must be signed.'];
  }
  for (const name of Object.keys(req.headers)) {
    if (name.startsWith('x-amz-') && !signedHeaders.includes(name)) {
      return ['AccessDenied', `There were headers present in the request which were not signed: ${name}`];
    }
  }
  for (const name of signedHeaders) {
    if (!(name in req.headers)) {
      return ['SignatureDoesNotMatch', `The signed header ${name} is not in the request.`];
    }
  }

  const q = req.url.indexOf('?');
  const rawPath = q < 0 ? req.url : req.url.slice(0, q);
  const segments = rawPath.split('/').map(decode);
  if (segments.includes(null)) return ['InvalidURI', 'Could not parse the specified URI.'];
  const canonicalUri = segments.map(uriEncode).join('/');
  const pairs = queryPairs(q < 0 ? '' : req.url.slice(q + 1));
  if (pairs === null) return ['InvalidURI', 'Could not parse the specified URI.'];
  const canonicalQuery = pairs
    .map(([k, v]) => [uriEncode(k), uriEncode(v)])
    .sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : a[1] < b[1] ? -1 : a[1] > b[1] ? 1 : 0))
    .map(([k, v]) => `${k}=${v}`)
    .join('&');
  const canonicalHeaders = signedHeaders
    .map(name => `${name}:${String(req.headers[name]).trim().replace(/\s+/g, ' ')}\n`)
    .join('');
  const canonicalRequest = [
    req.method,
    canonicalUri,
    canonicalQuery,
    canonicalHeaders,
    signedHeaders.join(';'),
    req.headers['x-amz-content-sha256'],
  ].join('\n');
  const stringToSign = [
    'AWS4-HMAC-SHA256',
    amzDate,
    `${date}/${region}/s3/aws4_request`,
    createHash('sha256').update(canonicalRequest).digest('hex'),
  ].join('\n');
  let key = hmac('AWS4' + secret, date);
  key = hmac(key, region);
  key = hmac(key, 's3');
  key = hmac(key, 'aws4_request');
  const expected = createHmac('sha256', key).update(stringToSign).digest('hex');
  if (expected !== signature) {
    return [
      'SignatureDoesNotMatch',
      'The request signature we calculated does not match the signature you provided. ' +
        'Check your key and signing method.',
    ];
  }
  return null;
}

// s3rver's uploads in progress: {directory}/{bucket}/._S3rver_uploads/{id}/key.
const uploadsDir = path.join(directory, bucket, '._S3rver_uploads');

function listUploads(res, query) {
  const prefix = query.get('prefix') || '';
  const keyMarker = query.get('key-marker') || '';
  const idMarker = query.get('upload-id-marker') || '';
  const max = Math.min(Number(query.get('max-uploads') || 1000), pageSize || 1000);
  let uploads = [];
  for (const id of fs.existsSync(uploadsDir) ? fs.readdirSync(uploadsDir) : []) {
    const keyFile = path.join(uploadsDir, id, 'key');
    if (!fs.existsSync(keyFile)) continue;
    const key = fs.readFileSync(keyFile, 'utf8');
    if (!key.startsWith(prefix)) continue;
    if (keyMarker && (key < keyMarker || (key === keyMarker && (!idMarker || id <= idMarker)))) {
      continue;
    }
    uploads.push({ key, id, initiated: fs.statSync(keyFile).mtime });
  }
  uploads.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : a.id < b.id ? -1 : 1));
  const truncated = uploads.length > max;
  uploads = uploads.slice(0, max);
  const last = uploads[uploads.length - 1];
  sendXml(
    res,
    '<ListMultipartUploadsResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">' +
      `<Bucket>${xmlEscape(bucket)}</Bucket>` +
      `<KeyMarker>${xmlEscape(keyMarker)}</KeyMarker>` +
      `<UploadIdMarker>${xmlEscape(idMarker)}</UploadIdMarker>` +
      (truncated
        ? `<NextKeyMarker>${xmlEscape(last.key)}</NextKeyMarker>` +
          `<NextUploadIdMarker>${last.id}</NextUploadIdMarker>`
        : '') +
      `<Prefix>${xmlEscape(prefix)}</Prefix>` +
      `<MaxUploads>${max}</MaxUploads>` +
      `<IsTruncated>${truncated}</IsTruncated>` +
      uploads
        .map(
          u =>
            `<Upload><Key>${xmlEscape(u.key)}</Key><UploadId>${u.id}</UploadId>` +
            '<StorageClass>STANDARD</StorageClass>' +
            `<Initiated>${u.initiated.toISOString()}</Initiated></Upload>`,
        )
        .join('') +
      '</ListMultipartUploadsResult>',
  );
}

function abortUpload(res, id) {
  const dir = path.join(uploadsDir, path.basename(id));
  if (!id || !fs.existsSync(path.join(dir, 'key'))) {
    sendError(res, 404, 'NoSuchUpload', 'The specified upload does not exist.');
    return;
  }
  fs.rmSync(dir, { recursive: true, force: true });
  res.writeHead(204);
  res.end();
}

const server = http.createServer((req, res) => {
  const denied = checkSignature(req);
  if (denied) {
    req.resume(); // read (and drop) the body, so the answer is not a reset
    sendError(res, 403, ...denied);
    return;
  }
  const q = req.url.indexOf('?');
  const pathname = decode(q < 0 ? req.url : req.url.slice(0, q)) || '';
  const query = new Map(queryPairs(q < 0 ? '' : req.url.slice(q + 1)) || []);
  const onBucket = pathname.replace(/\/$/, '') === `/${bucket}`;
  const onObject = pathname.startsWith(`/${bucket}/`) && !onBucket;
  if (req.method === 'GET' && onBucket && query.has('uploads')) {
    listUploads(res, query);
    return;
  }
  if (req.method === 'DELETE' && onObject && query.has('uploadId')) {
    abortUpload(res, query.get('uploadId'));
    return;
  }
  if (pageSize > 0 && req.method === 'GET' && onBucket && query.get('list-type') === '2') {
    // After the signature's check: the page limit is the server's, as if
    // it chose to return fewer keys than asked.
    const asked = Number(query.get('max-keys') || 1000);
    const raw = (q < 0 ? '' : req.url.slice(q + 1))
      .split('&')
      .filter(p => p && !p.startsWith('max-keys='));
    raw.push(`max-keys=${Math.min(asked, pageSize)}`);
    req.url = (q < 0 ? req.url : req.url.slice(0, q)) + '?' + raw.join('&');
  }
  s3rverHandler(req, res);
});
server.listen(Number(args.port), '127.0.0.1', () => {
  process.stdout.write(`${server.address().port}\n`);
});
