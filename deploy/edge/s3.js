// Videoflix edge: AWS Signature Version 4 for the GETs nginx sends to the object store, and
// the digest that keys cached authorisations. Loaded by nginx.conf (js_import s3 from s3.js).
//
// Requests are path-style (/<bucket>/<key>), with `x-amz-content-sha256: UNSIGNED-PAYLOAD`
// and exactly three signed headers: host, x-amz-content-sha256, x-amz-date. The keys come
// from the environment (nginx's `env S3_ACCESS_KEY; env S3_SECRET_KEY;`).
var crypto = require('crypto');

var SIGNED_HEADERS = 'host;x-amz-content-sha256;x-amz-date';
var UNSIGNED = 'UNSIGNED-PAYLOAD';

// RFC 3986 percent-encoding of one key segment, as S3's canonical URI wants it
function encodeSegment(segment) {
    return encodeURIComponent(segment).replace(/[!'()*]/g, function (c) {
        return '%' + c.charCodeAt(0).toString(16).toUpperCase();
    });
}

function encodePath(path) {
    return path.split('/').map(encodeSegment).join('/');
}

// $edge_s3_uri: /<bucket>/<rendition prefix the gateway named>/<playlist or segment name>
function objectUri(r) {
    var v = r.variables;
    return '/' + encodeSegment(v.edge_s3_bucket) + '/' + encodePath(v.edge_prefix + '/' + v.edge_name);
}

function amzDateOf(date) {
    // 2026-11-30T05:24:31.123Z -> 20261130T052431Z
    return date.toISOString().replace(/[-:]/g, '').replace(/\.[0-9]+Z$/, 'Z');
}

function hmac(key, data) {
    return crypto.createHmac('sha256', key).update(data).digest();
}

function sha256Hex(data) {
    return crypto.createHash('sha256').update(data).digest('hex');
}

// The Authorization header of a GET of `uri` on `host`, signed at `amzDate`
function sign(method, host, uri, amzDate, region, accessKey, secretKey) {
    var day = amzDate.slice(0, 8);
    var scope = day + '/' + region + '/s3/aws4_request';
    var canonical = [
        method,
        uri,
        '',
        'host:' + host,
        'x-amz-content-sha256:' + UNSIGNED,
        'x-amz-date:' + amzDate,
        '',
        SIGNED_HEADERS,
        UNSIGNED
    ].join('\n');
    var toSign = ['AWS4-HMAC-SHA256', amzDate, scope, sha256Hex(canonical)].join('\n');
    var key = hmac(hmac(hmac(hmac('AWS4' + secretKey, day), region), 's3'), 'aws4_request');
    var signature = crypto.createHmac('sha256', key).update(toSign).digest('hex');
    return 'AWS4-HMAC-SHA256 Credential=' + accessKey + '/' + scope
        + ', SignedHeaders=' + SIGNED_HEADERS + ', Signature=' + signature;
}

// $edge_s3_authorization; notes its timestamp in $edge_amz_date (sent as X-Amz-Date), and
// signs with that same timestamp however often nginx evaluates it for one request
function authorization(r) {
    var v = r.variables;
    var amzDate = v.edge_amz_date;
    if (!amzDate) {
        amzDate = amzDateOf(new Date());
        v.edge_amz_date = amzDate;
    }
    return sign('GET', v.edge_s3_host, v.edge_s3_uri, amzDate, v.edge_s3_region,
                process.env.S3_ACCESS_KEY || '', process.env.S3_SECRET_KEY || '');
}

// $edge_auth_key: what a cached authorisation is valid for (credentials, origin, video,
// resolution), as a digest so that no token is written to the cache's files
function authKey(r) {
    var v = r.variables;
    return sha256Hex([
        v.cookie_access_token || '',
        v.http_authorization || '',
        v.http_origin || '',
        v.edge_auth_args || ''
    ].join('\n'));
}

export default {authorization, authKey, objectUri, sign};
