import type { Config } from 'jest';

const config: Config = {
  testEnvironment: 'node',
  // dist/ holds the built package; only the sources under test/ are suites.
  roots: ['<rootDir>/test'],
  testMatch: ['**/*.test.ts'],
  extensionsToTreatAsEsm: ['.ts'],
  transform: {
    '^.+\\.ts$': ['@swc/jest', { jsc: { parser: { syntax: 'typescript' }, target: 'es2022' } }],
  },
  // Sources use NodeNext-style './x.js' specifiers for .ts files.
  moduleNameMapper: { '^(\\.{1,2}/.*)\\.js$': '$1' },
  testTimeout: 30_000,
};

export default config;
