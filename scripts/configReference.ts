/**
 * Writes docs/CONFIG.md, the reference of every setting, from the one config schema: the keys, types,
 * bounds and defaults from the zod schema itself, each key's description from its doc comment in
 * src/config/config.ts, and the flag and environment variable from src/config/loadConfig.ts.
 *
 *   npm run docs:config           writes docs/CONFIG.md
 *   npm run docs:config -- --check  exits 1 when docs/CONFIG.md is not what the schema says
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import type { ZodTypeAny } from 'zod';
import { configSchema } from '../src/config/config.js';
import { secretSettings, settings } from '../src/config/loadConfig.js';

const ROOT = new URL('../', import.meta.url);
export const REFERENCE_PATH = fileURLToPath(new URL('docs/CONFIG.md', ROOT));

/** Each key's doc comment in config.ts, by dotted path; keys marked `@internal` are not settings. */
function docComments(): { docs: Map<string, string>; internal: Set<string> } {
  const file = fileURLToPath(new URL('src/config/config.ts', ROOT));
  const source = ts.createSourceFile(file, readFileSync(file, 'utf8'), ts.ScriptTarget.Latest, true);
  const docs = new Map<string, string>();
  const internal = new Set<string>();
  /** The `{ … }` of the `z.object({ … })` an initializer such as `z.object({…}).strict().default({})` starts with. */
  const objectOf = (expression: ts.Expression): ts.ObjectLiteralExpression | undefined => {
    let node: ts.Expression = expression;
    while (ts.isCallExpression(node) && ts.isPropertyAccessExpression(node.expression)) {
      const callee = node.expression;
      if (
        callee.name.text === 'object' &&
        ts.isIdentifier(callee.expression) &&
        callee.expression.text === 'z'
      ) {
        const [first] = node.arguments;
        return first && ts.isObjectLiteralExpression(first) ? first : undefined;
      }
      node = callee.expression;
    }
    return undefined;
  };
  const walk = (object: ts.ObjectLiteralExpression, prefix: string) => {
    for (const property of object.properties) {
      if (!ts.isPropertyAssignment(property) || !ts.isIdentifier(property.name)) continue;
      const path = prefix + property.name.text;
      for (const doc of ts.getJSDocCommentsAndTags(property)) {
        if (!ts.isJSDoc(doc)) continue;
        const text = ts.getTextOfJSDocComment(doc.comment);
        if (text) docs.set(path, text.replace(/\s+/g, ' ').trim());
        if (doc.tags?.some((tag) => tag.tagName.text === 'internal')) internal.add(path);
      }
      const nested = objectOf(property.initializer);
      if (nested) walk(nested, `${path}.`);
    }
  };
  source.forEachChild(function visit(node) {
    if (ts.isVariableDeclaration(node) && ts.isIdentifier(node.name) && node.name.text === 'configSchema') {
      const object = node.initializer && objectOf(node.initializer);
      if (object) walk(object, '');
      return;
    }
    node.forEachChild(visit);
  });
  return { docs, internal };
}

interface Leaf {
  path: string;
  type: string;
  default: unknown;
  optional: boolean;
}

type Def = {
  typeName: string;
  innerType?: ZodTypeAny;
  schema?: ZodTypeAny;
  defaultValue?: () => unknown;
  checks?: { kind: string; value?: number }[];
  values?: string[];
  options?: ZodTypeAny[];
  value?: unknown;
  type?: ZodTypeAny;
  shape?: () => Record<string, ZodTypeAny>;
};
const defOf = (schema: ZodTypeAny) => schema._def as Def;

/** A type in words: `integer 1024–65535`, `open` or `secured`, a list of IP addresses. */
function describeType(schema: ZodTypeAny): string {
  const def = defOf(schema);
  switch (def.typeName) {
    case 'ZodNumber': {
      const int = def.checks?.some((c) => c.kind === 'int');
      const min = def.checks?.find((c) => c.kind === 'min')?.value;
      const max = def.checks?.find((c) => c.kind === 'max')?.value;
      const bounds =
        min !== undefined && max !== undefined
          ? ` ${min}–${max}`
          : min !== undefined
            ? ` ≥ ${min}`
            : max !== undefined
              ? ` ≤ ${max}`
              : '';
      return `${int ? 'integer' : 'number'}${bounds}`;
    }
    case 'ZodString': {
      const kinds = def.checks?.map((c) => c.kind) ?? [];
      if (kinds.includes('ip')) return 'IP address';
      if (kinds.includes('url')) return 'URL';
      const min = def.checks?.find((c) => c.kind === 'min')?.value;
      return min !== undefined && min > 1 ? `string, ≥ ${min} characters` : 'string';
    }
    case 'ZodBoolean':
      return 'boolean';
    case 'ZodEnum':
      return def.values!.map((v) => `\`${v}\``).join(', ');
    case 'ZodLiteral':
      return `\`${String(def.value)}\``;
    case 'ZodUnion':
      return def.options!.map(describeType).join(' or ');
    case 'ZodArray':
      return `list of ${describeType(def.type!)
        .replace(/address$/, 'addresses')
        .replace(/^URL$/, 'URLs')}`;
    case 'ZodDefault':
    case 'ZodOptional':
      return describeType(def.innerType!);
    case 'ZodEffects':
      return describeType(def.schema!);
    default:
      return def.typeName.replace(/^Zod/, '').toLowerCase();
  }
}

/** Every setting of the schema (objects are sections, not settings). */
function leaves(schema: ZodTypeAny, prefix = ''): Leaf[] {
  let inner = schema;
  let fallback: unknown;
  let optional = false;
  for (;;) {
    const def = defOf(inner);
    if (def.typeName === 'ZodDefault') {
      fallback ??= def.defaultValue!();
      inner = def.innerType!;
    } else if (def.typeName === 'ZodOptional') {
      optional = true;
      inner = def.innerType!;
    } else if (def.typeName === 'ZodEffects') inner = def.schema!;
    else break;
  }
  const def = defOf(inner);
  if (def.typeName === 'ZodObject')
    return Object.entries(def.shape!()).flatMap(([key, child]) => leaves(child, `${prefix}${key}.`));
  return [{ path: prefix.slice(0, -1), type: describeType(inner), default: fallback, optional }];
}

const cell = (text: string) => text.replace(/\|/g, '\\|');

function defaultText(leaf: Leaf): string {
  if (leaf.default === undefined) return leaf.optional ? '—' : '';
  if (Array.isArray(leaf.default) && leaf.default.length === 0) return 'none';
  return `\`${typeof leaf.default === 'string' ? leaf.default : JSON.stringify(leaf.default)}\``;
}

/** The reference, and the settings that have no description (there must be none). */
export function configReference(): { markdown: string; undocumented: string[] } {
  const { docs, internal } = docComments();
  const flags = new Map<string, { flag?: string; env: string }>();
  for (const s of settings) flags.set(s.path.join('.'), { flag: s.flag, env: s.env });
  for (const s of secretSettings) flags.set(s.path.join('.'), { env: s.env });
  const all = leaves(configSchema).filter((leaf) => !internal.has(leaf.path));
  const undocumented = all.filter((leaf) => !docs.has(leaf.path)).map((leaf) => leaf.path);
  const sections = new Map<string, Leaf[]>();
  for (const leaf of all) {
    const section = leaf.path.includes('.') ? leaf.path.split('.')[0]! : '';
    sections.set(section, [...(sections.get(section) ?? []), leaf]);
  }
  const lines = [
    '# Configuration reference',
    '',
    '<!-- Written by `npm run docs:config` from src/config/config.ts; `npm test` fails when it is out of date. -->',
    '',
    'Every setting is a key of the JSON file given with `--config FILE` (or `PORT545_CONFIG`); the ones most',
    'often changed are also a flag of `port545 serve` and an environment variable. Flags win over the',
    'environment, the environment over the file. A value out of its range stops the server with a message',
    'that names the setting. Secrets (`auth.apiKey`, `auth.apiSecret`) are never flags: a command line is',
    'visible to every user of the machine.',
  ];
  for (const [section, list] of sections) {
    lines.push('', section ? `## \`${section}\`` : '## Top level', '');
    if (section && docs.has(section)) lines.push(docs.get(section)!, '');
    lines.push('| key | type | default | flag, environment | |', '|---|---|---|---|---|');
    for (const leaf of list) {
      const how = flags.get(leaf.path);
      const where = how ? [how.flag && `\`--${how.flag}\``, `\`${how.env}\``].filter(Boolean).join(', ') : '';
      lines.push(
        `| \`${leaf.path}\` | ${cell(leaf.type)} | ${cell(defaultText(leaf))} | ${where} | ${cell(docs.get(leaf.path) ?? '')} |`,
      );
    }
  }
  return { markdown: `${lines.join('\n')}\n`, undocumented };
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const { markdown, undocumented } = configReference();
  if (undocumented.length > 0) {
    console.error(`settings without a doc comment in src/config/config.ts: ${undocumented.join(', ')}`);
    process.exit(1);
  }
  if (process.argv.includes('--check')) {
    if (readFileSync(REFERENCE_PATH, 'utf8') !== markdown) {
      console.error('docs/CONFIG.md is out of date: run `npm run docs:config`');
      process.exit(1);
    }
  } else writeFileSync(REFERENCE_PATH, markdown);
}
