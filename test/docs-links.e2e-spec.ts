/**
 * Docs stay inside the repository (issue 16, item 5): every link in README.md and docs/**\/*.md is relative
 * and resolves to a file or directory of this repository (and, for `file.md#anchor`, to a heading there).
 * No absolute URL, no path that climbs out of the checkout (`../shared/...`). Links inside code spans and
 * fenced blocks are text, not links; HTML comments are ignored.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { markdownAnchors } from './support/observability-coverage';

const ROOT = path.resolve(__dirname, '..');

function markdownFiles(): string[] {
  const out = [path.join(ROOT, 'README.md')];
  const walk = (dir: string): void => {
    for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
      const p = path.join(dir, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.name.endsWith('.md')) out.push(p);
    }
  };
  walk(path.join(ROOT, 'docs'));
  return out;
}

interface Link {
  file: string;
  line: number;
  target: string;
}

/** Inline links `[text](target)` and reference definitions `[id]: target`, outside code and comments. */
function markdownLinks(file: string, text: string): Link[] {
  const links: Link[] = [];
  let inFence = false;
  const lines = text.replace(/<!--[\s\S]*?-->/g, (c) => c.replace(/[^\n]/g, ' ')).split('\n');
  lines.forEach((raw, i) => {
    if (/^\s*(```|~~~)/.test(raw)) {
      inFence = !inFence;
      return;
    }
    if (inFence) return;
    const line = raw.replace(/`[^`]*`/g, '``');
    for (const m of line.matchAll(/\]\(\s*<?([^)\s>]+)>?(?:\s+"[^"]*")?\s*\)/g)) links.push({ file, line: i + 1, target: m[1]! });
    const def = /^\s{0,3}\[[^\]]+\]:\s*<?(\S+?)>?(\s|$)/.exec(line);
    if (def) links.push({ file, line: i + 1, target: def[1]! });
  });
  return links;
}

function problem(link: Link): string | undefined {
  const { file, target } = link;
  if (/^[a-z][a-z0-9+.-]*:/i.test(target) || target.startsWith('//')) return 'absolute URL: points outside the repository';
  const hash = target.indexOf('#');
  const filePart = decodeURI(hash >= 0 ? target.slice(0, hash) : target);
  const anchor = hash >= 0 ? target.slice(hash + 1) : '';
  if (filePart.startsWith('/')) return 'absolute path';
  const abs = filePart === '' ? file : path.resolve(path.dirname(file), filePart);
  const rel = path.relative(ROOT, abs);
  if (rel.startsWith('..') || path.isAbsolute(rel)) return 'climbs out of the repository';
  if (rel.split(path.sep).includes('node_modules')) return 'points into node_modules';
  if (!fs.existsSync(abs)) return `${rel} does not exist`;
  if (anchor !== '') {
    if (!abs.endsWith('.md')) return 'anchor on a file that is not markdown';
    if (!markdownAnchors(fs.readFileSync(abs, 'utf8')).has(anchor)) return `#${anchor} is not a heading of ${rel}`;
  }
  return undefined;
}

describe('links in README.md and docs/', () => {
  it('every link is relative and resolves inside the repository (files, directories, heading anchors)', () => {
    const files = markdownFiles();
    expect(files.length).toBeGreaterThan(10);
    const links = files.flatMap((f) => markdownLinks(f, fs.readFileSync(f, 'utf8')));
    expect(links.length).toBeGreaterThan(50);
    const bad = links.flatMap((l) => {
      const p = problem(l);
      return p === undefined ? [] : [`${path.relative(ROOT, l.file)}:${l.line}: ${l.target}: ${p}`];
    });
    expect(bad).toEqual([]);
  });

  it('self-check: an outside path, a URL, a missing file and a missing anchor are reported; code spans are not links', () => {
    const file = path.join(ROOT, 'docs', 'selfcheck.md');
    const text = [
      'See [spec](../../shared/SPEC.md), [site](https://example.org/x), [gone](nope.md), [anchor](mesh.md#no-such-heading).',
      'Fine: [mesh](mesh.md#tie-break), [k8s](../deploy/k8s), [top](#selfcheck). Not a link: `[x](../../etc/passwd)`.',
      '<!-- [hidden](../../outside.md) -->',
      '```',
      '[fenced](../../outside.md)',
      '```',
      '[ref]: ../../ref-outside.md',
    ].join('\n');
    const links = markdownLinks(file, text);
    expect(links.map((l) => l.target)).toEqual(['../../shared/SPEC.md', 'https://example.org/x', 'nope.md', 'mesh.md#no-such-heading', 'mesh.md#tie-break', '../deploy/k8s', '#selfcheck', '../../ref-outside.md']);
    const verdicts = links.map((l) => problem(l) ?? 'ok');
    expect(verdicts).toEqual([
      'climbs out of the repository',
      'absolute URL: points outside the repository',
      'docs/nope.md does not exist',
      '#no-such-heading is not a heading of docs/mesh.md',
      'ok',
      'ok',
      // #selfcheck: the self-check file does not exist on disk
      'docs/selfcheck.md does not exist',
      'climbs out of the repository',
    ]);
  });
});
