import { CLOUD_FIELDS } from './cloud-keys';
import { PREMISE_FIELDS } from './premise-keys';

/** Which file a parsed YAML document is, by its top-level keys: premise keys and no hub key => 'premise'. */
export function configKindOf(raw: unknown): 'cloud' | 'premise' {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) return 'cloud';
  const keys = Object.keys(raw);
  const premise = keys.some((k) => Object.hasOwn(PREMISE_FIELDS, k));
  const cloud = keys.some((k) => Object.hasOwn(CLOUD_FIELDS, k));
  return premise && !cloud ? 'premise' : 'cloud';
}
