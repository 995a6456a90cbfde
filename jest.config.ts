import type { Config } from 'jest';

const moduleNameMapper = {
  '^@nowconnect/frames$': '<rootDir>/libs/frames/src/index.ts',
  '^@nowconnect/flow$': '<rootDir>/libs/flow/src/index.ts',
  '^@nowconnect/logging$': '<rootDir>/libs/logging/src/index.ts',
  '^@nowconnect/ha-config$': '<rootDir>/libs/ha-config/src/index.ts',
  '^@nowconnect/registry$': '<rootDir>/libs/registry/src/index.ts',
  '^@nowconnect/mesh$': '<rootDir>/libs/mesh/src/index.ts',
};

const transform: Record<string, [string, Record<string, unknown>]> = {
  '^.+\\.ts$': ['ts-jest', { tsconfig: '<rootDir>/tsconfig.json' }],
};

const config: Config = {
  projects: [
    {
      displayName: 'unit',
      rootDir: '.',
      testEnvironment: 'node',
      testMatch: ['<rootDir>/apps/**/*.spec.ts', '<rootDir>/libs/**/*.spec.ts', '<rootDir>/tools/**/*.spec.ts'],
      moduleFileExtensions: ['ts', 'js', 'json'],
      moduleNameMapper,
      transform,
    },
    {
      displayName: 'e2e',
      rootDir: '.',
      testEnvironment: 'node',
      testMatch: ['<rootDir>/test/**/*.e2e-spec.ts'],
      moduleFileExtensions: ['ts', 'js', 'json'],
      moduleNameMapper,
      transform,
      slowTestThreshold: 30,
    },
  ],
  testTimeout: 120_000,
};

export default config;
