import { describe, expect, test } from 'vitest';
import { mirrorsFromIndexTargets } from './mirror.ts';

describe('mirrorsFromIndexTargets', () => {
  test('finds both archive roots in apt-get indextargets output, without the trailing slash', () => {
    const text = [
      'http://mirror.example.org/debian/ bookworm',
      'http://mirror.example.org/debian/ bookworm',
      'http://mirror.example.org/debian/ bookworm-updates',
      'http://mirror.example.org/debian-security/ bookworm-security',
      'http://mirror.example.org/debian/ bookworm-backports',
    ].join('\n');
    expect(mirrorsFromIndexTargets(text)).toEqual({
      debian: 'http://mirror.example.org/debian',
      'debian-security': 'http://mirror.example.org/debian-security',
    });
  });

  test('a security suite counts by its release name even under another path', () => {
    const text = 'https://mirror.example.org/security/ trixie-security\nhttps://mirror.example.org/debian/ trixie\n';
    expect(mirrorsFromIndexTargets(text)).toEqual({
      debian: 'https://mirror.example.org/debian',
      'debian-security': 'https://mirror.example.org/security',
    });
  });

  test('the first mirror of each archive wins', () => {
    const text = [
      'http://a.example/debian/ bookworm',
      'http://a.example/debian-security/ bookworm-security',
      'http://b.example/debian/ bookworm',
      'http://b.example/debian-security/ bookworm-security',
    ].join('\n');
    expect(mirrorsFromIndexTargets(text)).toEqual({ debian: 'http://a.example/debian', 'debian-security': 'http://a.example/debian-security' });
  });

  test('skips non-HTTP sources, other repositories and malformed lines', () => {
    const text = [
      'file:/srv/debian/ bookworm',
      'cdrom://[Debian GNU/Linux 12]/ bookworm',
      'https://packages.example.com/apt/ stable',
      'http://mirror.example.org/debian/',
      '',
    ].join('\n');
    expect(mirrorsFromIndexTargets(text)).toEqual({});
  });

  test('only the security archive configured → only it is found', () => {
    expect(mirrorsFromIndexTargets('http://security-mirror.example.org/debian-security/ bookworm-security')).toEqual({
      'debian-security': 'http://security-mirror.example.org/debian-security',
    });
  });
});

describe('mirrorsFromIndexTargets with components', () => {
  test('a third-party repository under /debian serving another component is not the Debian mirror', () => {
    const text = [
      'https://thirdparty.example.com/linux/debian/ bookworm stable',
      'http://mirror.example.org/debian/ bookworm main',
      'http://mirror.example.org/debian-security/ bookworm-security main',
    ].join('\n');
    expect(mirrorsFromIndexTargets(text)).toEqual({
      debian: 'http://mirror.example.org/debian',
      'debian-security': 'http://mirror.example.org/debian-security',
    });
  });
});
