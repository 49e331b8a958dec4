#!/usr/bin/env python3
"""Generates tests/unit/vectors/sigv4_vectors.inc: SigV4 test vectors signed by botocore.

Every request-level signature comes from botocore's own signers (SigV4Auth, S3SigV4Auth,
S3ExpressAuth, S3SigV4QueryAuth, S3ExpressQueryAuth) with fixed credentials; only the
clock is patched (botocore.auth.get_current_datetime) so the output is reproducible.
botocore has no aws-chunked signer, so chunk and trailer signatures are computed here
with hmac/hashlib from the string-to-sign in the AWS "Transferring Payload in Multiple
Chunks" page, and the published example (seed 4f232c43...) is checked against the AWS
numbers before anything is written.

Usage: python3 tools/gen_sigv4_vectors.py > tests/unit/vectors/sigv4_vectors.inc
       python3 tools/gen_sigv4_vectors.py --fuzz-seeds DIR   (seed corpora for tests/fuzz)
"""
import os
import base64
import calendar
import datetime
import hashlib
import hmac
import sys
import zlib

import botocore
import botocore.auth as auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

FIXED = datetime.datetime(2026, 11, 25, 12, 0, 0)
AKID = 'AKIDEXAMPLE'
SECRET = 'wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY'
TOKEN = 'FQoGZXIvYXdzEXAMPLE/token+with=chars'
SESSION_AKID = 'QRSSESSIONEXAMPLE'
SESSION_SECRET = 'c2Vzc2lvbi1zZWNyZXQtZXhhbXBsZS0xMjM0NTY3OA'
SESSION_TOKEN = 'c2Vzc2lvbg.dG9rZW4tZXhhbXBsZQ'
ENDPOINT = 'http://127.0.0.1:9000'


def fixed_now(*_args, **_kwargs):
    return FIXED


auth.get_current_datetime = fixed_now


def epoch_ms(dt):
    return calendar.timegm(dt.timetuple()) * 1000


def c_str(b):
    """A C string literal for bytes b (octal escapes for anything not plain ASCII)."""
    if isinstance(b, str):
        b = b.encode('utf-8')
    out = ['"']
    for byte in b:
        ch = chr(byte)
        if ch in '"\\?':
            out.append('\\' + ch)
        elif 0x20 <= byte < 0x7f:
            out.append(ch)
        else:
            out.append('\\%03o' % byte)
    out.append('"')
    return ''.join(out)


def sign(signer, method, path_query, headers=(), body=b''):
    """Signs a request with signer; returns (method, path, query, headers, body)."""
    url = ENDPOINT + path_query
    req = AWSRequest(method=method, url=url, data=body)
    for name, value in headers:
        req.headers[name] = value  # HTTPHeaders appends: a repeated name gives two headers
    req.context['client_config'] = None
    signer.add_auth(req)
    url = req.url
    rest = url[len(ENDPOINT):]
    path, _, query = rest.partition('?')
    out_headers = [('Host', auth._host_from_url(url))]
    out_headers += list(req.headers.items())
    return method, path, query, out_headers, body


def sig_of(headers, query):
    for name, value in headers:
        if name.lower() == 'authorization':
            return value.rsplit('Signature=', 1)[1]
    for pair in query.split('&'):
        if pair.startswith('X-Amz-Signature='):
            return pair.split('=', 1)[1]
    raise SystemExit('no signature')


VECTORS = []


def add(name, service, akid, secret, payload, presigned, req, now_offset_s=60):
    method, path, query, headers, body = req
    VECTORS.append(dict(name=name, service=service, akid=akid, secret=secret, payload=payload,
                        presigned=presigned, method=method, path=path, query=query,
                        headers=headers, body=body, sig=sig_of(headers, query),
                        now_ms=epoch_ms(FIXED) + now_offset_s * 1000))


def build():
    creds = Credentials(AKID, SECRET)
    creds_tok = Credentials(AKID, SECRET, TOKEN)
    sess = Credentials(SESSION_AKID, SESSION_SECRET, SESSION_TOKEN)
    s3 = auth.S3SigV4Auth(creds, 's3', 'us-east-1')
    s3x = auth.S3SigV4Auth(creds, 's3express', 'us-east-1')

    add('s3express_create_session', 's3express', AKID, SECRET, 'HASH', False,
        sign(s3x, 'GET', '/src--use1-az4--x-s3?session', [('User-Agent', 'Boto3/1.43')]))
    add('s3_create_multipart_uploads_eq', 's3', AKID, SECRET, 'HASH', False,
        sign(s3, 'POST', '/mybucket/big.bin?uploads=',
             [('Content-Type', 'application/octet-stream'), ('x-amz-checksum-algorithm', 'CRC32')]))
    add('s3_list_v2_flags', 's3', AKID, SECRET, 'HASH', False,
        sign(s3, 'GET', '/mybucket/?list-type=2&prefix=a%20b%2Fc%2B&encoding-type=url'
             '&max-keys=10&delimiter=%2F&continuation-token=', [('Expect', '100-continue')]))
    add('s3_put_weird_key', 's3', AKID, SECRET, 'HASH', False,
        sign(s3, 'PUT', '/mybucket/a%20b//%C3%BC/./../50%25%2Bx~y.txt?x-id=PutObject',
             [('Content-Type', 'text/plain'), ('X-Amz-Meta-Note', '  spaced   out \t value  '),
              ('X-Amz-Meta-Rep', 'one'), ('X-Amz-Meta-Rep', ' two  words ')],
             body=b'weird key body'))
    add('s3_put_content_sha', 's3', AKID, SECRET, 'HASH', False,
        sign(s3, 'PUT', '/mybucket/hello.txt',
             [('Content-Type', 'application/octet-stream'), ('Content-Length', '11'),
              ('x-amz-checksum-crc32', 'DUoRhQ=='), ('x-amz-sdk-checksum-algorithm', 'CRC32')],
             body=b'hello world'))
    add('s3_get_security_token_header', 's3', AKID, SECRET, 'HASH', False,
        sign(auth.S3SigV4Auth(creds_tok, 's3', 'us-east-1'), 'GET', '/mybucket/k?x-id=GetObject'))
    add('s3_date_header_fallback', 's3', AKID, SECRET, 'HASH', False,
        sign(s3, 'HEAD', '/mybucket/k', [('Date', 'placeholder')]))

    q = auth.S3SigV4QueryAuth(creds, 's3', 'us-east-1', expires=3600)
    add('s3_presigned_get', 's3', AKID, SECRET, 'UNSIGNED', True,
        sign(q, 'GET', '/mybucket/dir/file%20name.txt?versionId=v1'), now_offset_s=1800)
    q = auth.S3SigV4QueryAuth(creds_tok, 's3', 'us-east-1', expires=900)
    add('s3_presigned_put_token', 's3', AKID, SECRET, 'UNSIGNED', True,
        sign(q, 'PUT', '/mybucket/up%C3%A9.bin', [('Content-Type', 'image/png')]))

    s3xs = auth.S3ExpressAuth(sess, 's3express', 'us-east-1', identity_cache=None)
    add('s3express_session_token', 's3express', SESSION_AKID, SESSION_SECRET, 'HASH', False,
        sign(s3xs, 'PUT', '/src--use1-az4--x-s3/k1?x-id=PutObject', [], body=b'express'))
    s3xs_sdk3 = auth.S3ExpressAuth(sess, 's3', 'us-east-1', identity_cache=None)
    add('s3express_session_scope_s3', 's3', SESSION_AKID, SESSION_SECRET, 'HASH', False,
        sign(s3xs_sdk3, 'GET', '/src--use1-az4--x-s3//k1?x-id=GetObject'))
    q = auth.S3ExpressQueryAuth(sess, 's3express', 'us-east-1', identity_cache=None)
    add('s3express_presigned', 's3express', SESSION_AKID, SESSION_SECRET, 'UNSIGNED', True,
        sign(q, 'GET', '/src--use1-az4--x-s3/k1'))

    lam = auth.SigV4Auth(creds, 'lambda', 'us-east-1')
    add('lambda_invoke_double_encoded', 'lambda', AKID, SECRET, 'HASH', False,
        sign(lam, 'POST', '/2015-03-31/functions/arn%3Aaws%3Alambda%3Aus-east-1%3A'
             '123456789012%3Afunction%3Amy%20fn/invocations',
             [('X-Amz-Log-Type', 'Tail')], body=b'{"a":1}'))
    add('lambda_dot_segments', 'lambda', AKID, SECRET, 'HASH', False,
        sign(lam, 'GET', '/2015-03-31//functions/./f%2Fx/../g/?MaxItems=5&Marker=a%2Bb',
             [], body=b''))
    sts = auth.SigV4Auth(creds_tok, 'sts', 'us-east-1')
    add('sts_form_post_token', 'sts', AKID, SECRET, 'HASH', False,
        sign(sts, 'POST', '/', [('Content-Type', 'application/x-www-form-urlencoded; charset=utf-8')],
             body=b'Action=AssumeRole&Version=2011-06-15&RoleArn=arn%3Aaws%3Aiam%3A%3A1%3Arole'
                  b'%2Fr&RoleSessionName=sess'))


def hmac256(key, msg):
    return hmac.new(key, msg, hashlib.sha256).digest()


def signing_key(secret, date, region, service):
    k = hmac256(('AWS4' + secret).encode(), date.encode())
    k = hmac256(k, region.encode())
    k = hmac256(k, service.encode())
    return hmac256(k, b'aws4_request')


EMPTY = hashlib.sha256(b'').hexdigest()


def chunk_sig(key, amz_date, scope, prev, data):
    sts = '\n'.join(['AWS4-HMAC-SHA256-PAYLOAD', amz_date, scope, prev, EMPTY,
                     hashlib.sha256(data).hexdigest()])
    return hmac.new(key, sts.encode(), hashlib.sha256).hexdigest()


def trailer_sig(key, amz_date, scope, prev, canonical):
    sts = '\n'.join(['AWS4-HMAC-SHA256-TRAILER', amz_date, scope, prev,
                     hashlib.sha256(canonical).hexdigest()])
    return hmac.new(key, sts.encode(), hashlib.sha256).hexdigest()


def aws_chunked_example():
    """The S3 documentation's signed-chunk example (64 KiB + 1 KiB of 'a')."""
    global FIXED
    saved = FIXED
    FIXED = datetime.datetime(2013, 5, 24, 0, 0, 0)
    secret = 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY'
    signer = auth.SigV4Auth(Credentials('AKIAIOSFODNN7EXAMPLE', secret), 's3', 'us-east-1')
    req = AWSRequest(method='PUT', url='https://s3.amazonaws.com/examplebucket/chunkObject.txt')
    for name, value in [('x-amz-storage-class', 'REDUCED_REDUNDANCY'),
                        ('Content-Encoding', 'aws-chunked'),
                        ('x-amz-decoded-content-length', '66560'),
                        ('Content-Length', '66824'),
                        ('X-Amz-Content-SHA256', 'STREAMING-AWS4-HMAC-SHA256-PAYLOAD')]:
        req.headers[name] = value
    signer.add_auth(req)
    FIXED = saved
    seed = sig_of(list(req.headers.items()), '')
    assert seed == '4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9', seed
    key = signing_key(secret, '20130524', 'us-east-1', 's3')
    scope = '20130524/us-east-1/s3/aws4_request'
    s1 = chunk_sig(key, '20130524T000000Z', scope, seed, b'a' * 65536)
    s2 = chunk_sig(key, '20130524T000000Z', scope, s1, b'a' * 1024)
    s3 = chunk_sig(key, '20130524T000000Z', scope, s2, b'')
    # The values printed in the AWS page.
    assert s1 == 'ad80c730a21e5b8d04586a2213dd63b9a0e99e0e2307b0ade35a65485a288648', s1
    assert s2 == '0055627c9e194cb4542bae2aa5492e3c1575bbb81b612b7d234b86a503ef5497', s2
    assert s3 == 'b6c6ea8a5354eaf15b3cb7646744f4275b71ea724fed81ceb9323e279d449df9', s3
    headers = [('Host', 's3.amazonaws.com')] + list(req.headers.items())
    VECTORS.append(dict(name='aws_doc_chunked_seed', service='s3', akid='AKIAIOSFODNN7EXAMPLE',
                        secret=secret, payload='STREAMING', presigned=False, method='PUT',
                        path='/examplebucket/chunkObject.txt', query='', headers=headers,
                        body=b'', sig=seed,
                        now_ms=epoch_ms(datetime.datetime(2013, 5, 24, 0, 5, 0))))
    return [s1, s2, s3]


def signed_trailer_example():
    """STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER: one data chunk (smaller than 8 KiB, so
    it must be the only one), a CRC32 trailer."""
    data = [b'hello world']
    crc = base64.b64encode((zlib.crc32(b''.join(data)) & 0xffffffff).to_bytes(4, 'big')).decode()
    signer = auth.SigV4Auth(Credentials(AKID, SECRET), 's3', 'us-east-1')
    req = AWSRequest(method='PUT', url=ENDPOINT + '/mybucket/trailer.txt')
    for name, value in [('Content-Encoding', 'aws-chunked'),
                        ('x-amz-decoded-content-length', '11'),
                        ('x-amz-trailer', 'x-amz-checksum-crc32'),
                        ('X-Amz-Content-SHA256', 'STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER')]:
        req.headers[name] = value
    signer.add_auth(req)
    seed = sig_of(list(req.headers.items()), '')
    key = signing_key(SECRET, '20261125', 'us-east-1', 's3')
    scope = '20261125/us-east-1/s3/aws4_request'
    amz = FIXED.strftime('%Y%m%dT%H%M%SZ')
    prev = seed
    body = b''
    for d in data + [b'']:
        prev = chunk_sig(key, amz, scope, prev, d)
        body += b'%x;chunk-signature=%s\r\n' % (len(d), prev.encode())
        if d:
            body += d + b'\r\n'
    canonical = ('x-amz-checksum-crc32:' + crc + '\n').encode()
    tsig = trailer_sig(key, amz, scope, prev, canonical)
    body += canonical.replace(b'\n', b'\r\n')
    body += b'x-amz-trailer-signature:' + tsig.encode() + b'\r\n\r\n'
    headers = [('Host', '127.0.0.1:9000')] + list(req.headers.items())
    VECTORS.append(dict(name='signed_trailer', service='s3', akid=AKID, secret=SECRET,
                        payload='STREAMING_TRAILER', presigned=False, method='PUT',
                        path='/mybucket/trailer.txt', query='', headers=headers, body=b'',
                        sig=seed, now_ms=epoch_ms(FIXED)))
    return body, crc


def write_fuzz_seeds(top, trailer_body):
    """Seeds in the input layouts of tests/fuzz/fuzz_sigv4.c, fuzz_chunked.c and
    fuzz_chunked_stream.c."""
    special = ('authorization', 'x-amz-date', 'x-amz-content-sha256')
    os.makedirs(os.path.join(top, 'fuzz_sigv4'), exist_ok=True)
    os.makedirs(os.path.join(top, 'fuzz_chunked'), exist_ok=True)
    for v in VECTORS:
        h = {k.lower(): val for k, val in v['headers']}
        fields = [v['method'], v['path'], v['query']] + [h.get(n, '\x01') for n in special]
        for k, val in v['headers']:
            if k.lower() not in special and k.lower() != 'host':
                fields += [k, val]
        with open(os.path.join(top, 'fuzz_sigv4', 'seed_' + v['name']), 'wb') as f:
            f.write(b'\0'.join(x.encode('utf-8') for x in fields))
    chunked = {
        'js_unsigned_trailer': b'\x02\x06\x02' + b'6\r\nsmall\n\r\n0\r\nx-amz-checksum-crc32:thwCpw==\r\n\r\n',
        'two_chunks': b'\x00\x00\x01' + b'3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n',
        'signed_trailer': b'\x01\x0b\x02' + trailer_body,
    }
    for name, data in chunked.items():
        with open(os.path.join(top, 'fuzz_chunked', 'seed_' + name), 'wb') as f:
            f.write(data)
    # fuzz_chunked_stream: mode, split seed, decoded length, then the input (mode bit 0:
    # chunk sizes in units of 64 bytes that the harness frames and signs, then a flip byte)
    os.makedirs(os.path.join(top, 'fuzz_chunked_stream'), exist_ok=True)
    stream = {
        'js_unsigned_trailer': b'\x02\x25\x06' + chunked['js_unsigned_trailer'][3:],
        'two_chunks': b'\x00\x07\x00' + chunked['two_chunks'][3:],
        'signed_trailer': b'\x04\x13\x00' + trailer_body,
        'harness_signed': b'\x09\x31\x00' + bytes([0x80, 0xc0, 0x10]) + b'\x00',
        'harness_flipped': b'\x19\x31\x00' + bytes([0x80, 0x80, 0x01]) + b'\x2a',
    }
    for name, data in stream.items():
        with open(os.path.join(top, 'fuzz_chunked_stream', 'seed_' + name), 'wb') as f:
            f.write(data)


def main():
    build()
    doc_sigs = aws_chunked_example()
    trailer_body, trailer_crc = signed_trailer_example()
    if len(sys.argv) == 3 and sys.argv[1] == '--fuzz-seeds':
        write_fuzz_seeds(sys.argv[2], trailer_body)
        return
    # The JS SDK v3 stream upload body (tests/../clients.md): CRC32 of "small\n".
    js_crc = base64.b64encode((zlib.crc32(b'small\n') & 0xffffffff).to_bytes(4, 'big')).decode()
    assert js_crc == 'thwCpw==', js_crc

    w = sys.stdout.write
    w('/* Generated by tools/gen_sigv4_vectors.py with botocore %s; do not edit. */\n\n'
      % botocore.__version__)
    for i, v in enumerate(VECTORS):
        w('static const char *const v%d_headers[] = {\n' % i)
        for name, value in v['headers']:
            w('    %s, %s,\n' % (c_str(name), c_str(value)))
        w('    NULL,\n};\n')
    w('\nstatic const struct vector vectors[] = {\n')
    for i, v in enumerate(VECTORS):
        w('    {%s, %s, %s, %s, v%d_headers, %d,\n' % (
            c_str(v['name']), c_str(v['method']), c_str(v['path']), c_str(v['query']), i,
            len(v['headers'])))
        w('     %s, %d, %s, %s,\n' % (c_str(v['body']), len(v['body']), c_str(v['akid']),
                                     c_str(v['secret'])))
        w('     %s, SIGV4_PAYLOAD_%s, %s, %dLL, %s},\n' % (
            c_str(v['service']), v['payload'], 'true' if v['presigned'] else 'false',
            v['now_ms'], c_str(v['sig'])))
    w('};\n\n')
    w('/* AWS documentation example chunk signatures (65536, 1024 and 0 bytes of data). */\n')
    w('static const char *const aws_doc_chunk_sigs[3] = {%s};\n\n'
      % ', '.join(c_str(s) for s in doc_sigs))
    w('/* Signed-trailer body for vector "signed_trailer" ("hello world", CRC32 %s). */\n'
      % trailer_crc)
    w('static const char signed_trailer_body[] = %s;\n' % c_str(trailer_body))
    w('static const char signed_trailer_crc32[] = %s;\n' % c_str(trailer_crc))


if __name__ == '__main__':
    main()
