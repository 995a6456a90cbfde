export type { FieldSpec, FieldTable, JsonSchema } from './field-table';
export { CLOUD_FIELDS } from './cloud-keys';
export { PREMISE_FIELDS } from './premise-keys';
export { cloudSchema, premiseSchema, schemaText, CLOUD_SCHEMA_FILE, PREMISE_SCHEMA_FILE } from './json-schema';
export { keyReference, withKeyReference } from './key-docs';
