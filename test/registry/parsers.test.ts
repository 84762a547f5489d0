import { describe, expect, it } from 'vitest';
import { mergeScopes, parseChallenges, parseScope } from '../../src/registry/challenge.js';
import { parseErrorBody } from '../../src/registry/errors.js';
import { isLoopback, schemeFor } from '../../src/registry/http.js';
import { redactHeaders } from '../../src/registry/log.js';
import { nextLink } from '../../src/registry/pagination.js';
import { referrersTag } from '../../src/registry/referrers.js';
import { retryAfterMs } from '../../src/registry/retry.js';

describe('WWW-Authenticate', () => {
  it('keeps quoted scopes whole, with their colons, commas and spaces', () => {
    expect(
      parseChallenges('Bearer realm="https://auth.example/token",service="registry.example",scope="repository:a/b:pull,push repository:127.0.0.1:5000/c:pull"'),
    ).toEqual([
      {
        scheme: 'bearer',
        params: { realm: 'https://auth.example/token', service: 'registry.example', scope: 'repository:a/b:pull,push repository:127.0.0.1:5000/c:pull' },
      },
    ]);
  });

  it('reads several challenges, escapes, token values and odd spacing', () => {
    expect(parseChallenges('Basic realm="a \\"quoted\\" realm", Bearer realm = "https://x/t" , error=insufficient_scope')).toEqual([
      { scheme: 'basic', params: { realm: 'a "quoted" realm' } },
      { scheme: 'bearer', params: { realm: 'https://x/t', error: 'insufficient_scope' } },
    ]);
    expect(parseChallenges('Basic')).toEqual([{ scheme: 'basic', params: {} }]);
    expect(parseChallenges('')).toEqual([]);
    expect(parseChallenges('Bearer realm="unterminated')).toEqual([{ scheme: 'bearer', params: { realm: 'unterminated' } }]);
  });

  it('splits and merges scopes', () => {
    expect(parseScope('repository:127.0.0.1:5000/a:pull,push')).toEqual({ type: 'repository', name: '127.0.0.1:5000/a', actions: ['pull', 'push'] });
    expect(parseScope('nonsense')).toBeUndefined();
    expect(mergeScopes(['repository:a:push', 'repository:a:pull repository:b:pull', '', 'registry:catalog:*'])).toEqual([
      'registry:catalog:*',
      'repository:a:pull,push',
      'repository:b:pull',
    ]);
  });
});

describe('Link, Retry-After, error bodies', () => {
  it('finds the next link among several', () => {
    expect(nextLink('</v2/_catalog?last=t%2Fa&n=1>; rel="next"')).toBe('/v2/_catalog?last=t%2Fa&n=1');
    expect(nextLink('<https://r/v2/a/tags/list?n=2&last=b,c>; rel="prev", <https://r/next?x=1>; rel=next')).toBe('https://r/next?x=1');
    expect(nextLink('<https://r/x>; rel="nextish"')).toBeUndefined();
    expect(nextLink(undefined)).toBeUndefined();
  });

  it('reads Retry-After as seconds or a date', () => {
    expect(retryAfterMs('3')).toBe(3000);
    expect(retryAfterMs('Wed, 21 Oct 2015 07:28:10 GMT', Date.parse('Wed, 21 Oct 2015 07:28:00 GMT'))).toBe(10_000);
    expect(retryAfterMs('soon')).toBeUndefined();
    expect(retryAfterMs(undefined)).toBeUndefined();
  });

  it('narrows registry error bodies and ignores anything else', () => {
    const body = (s: string) => new TextEncoder().encode(s);
    expect(
      parseErrorBody(
        body(
          '{"errors":[{"code":"NAME_UNKNOWN","message":"repository name not known to registry","detail":{"name":"a"}},{"code":"lower"},{"message":"no code"}]}',
        ),
      ),
    ).toEqual([{ code: 'NAME_UNKNOWN', message: 'repository name not known to registry', detail: { name: 'a' } }]);
    expect(parseErrorBody(body('404 page not found\n'))).toEqual([]);
    expect(parseErrorBody(body('{"errors":"x"}'))).toEqual([]);
  });
});

describe('hosts and headers', () => {
  it('uses plain HTTP only for loopback and hosts marked insecure', () => {
    expect(['127.0.0.1:5000', '127.9.9.9', 'localhost:1', '[::1]:5000'].map(isLoopback)).toEqual([true, true, true, true]);
    expect(['128.0.0.1', 'localhost.evil.com', '10.0.0.1:5000'].map(isLoopback)).toEqual([false, false, false]);
    expect(schemeFor('ghcr.io')).toBe('https');
    expect(schemeFor('127.0.0.1:5000')).toBe('http');
    expect(schemeFor('reg.lan:5000', ['reg.lan:5000'])).toBe('http');
    expect(schemeFor('other.lan', ['reg.lan:5000'])).toBe('https');
    expect(schemeFor('reg.lan', true)).toBe('http');
  });

  it('redacts credentials in logged headers', () => {
    expect(redactHeaders({ Authorization: 'Bearer eyJabc.def', 'content-type': 'x', cookie: 'a=b', 'set-cookie': ['s=1', 't=2'] })).toEqual({
      authorization: 'Bearer ***',
      'content-type': 'x',
      cookie: '***',
      'set-cookie': '***',
    });
  });

  it('names the referrers fallback tag after the subject digest', () => {
    expect(referrersTag(`sha256:${'0f'.repeat(32)}`)).toBe(`sha256-${'0f'.repeat(32)}`);
    expect(referrersTag(`sha512:${'a'.repeat(128)}`)).toBe(`sha512-${'a'.repeat(64)}`);
  });
});
