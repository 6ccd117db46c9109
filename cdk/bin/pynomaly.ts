#!/usr/bin/env node
// The Pynomaly stack. Settings come from CDK context (`-c key=value` or cdk.json):
//   account, region      where to deploy (cdk.json holds placeholders so `cdk synth` runs
//                        offline; pass your own for `cdk deploy`)
//   lambdaDir            `cargo lambda build --output-format zip` output (scripts/build-lambdas)
//   architecture         arm64 | x86_64 (must match the zips)
//   ingestTenant, chunkBytes, maxReceives, alarmTopicArn, jwtIssuer, jwtAudience (comma list)
import * as path from 'path';
import { App } from 'aws-cdk-lib';
import { PynomalyStack, parseArchitecture } from '../lib/pynomaly-stack';

const app = new App();
const context = (key: string): string | undefined => {
  const value = app.node.tryGetContext(key);
  return value === undefined || value === '' ? undefined : String(value);
};
const numberContext = (key: string): number | undefined => {
  const value = context(key);
  if (value === undefined) return undefined;
  const parsed = Number(value);
  if (!Number.isInteger(parsed)) throw new Error(`context ${key} must be an integer, got "${value}"`);
  return parsed;
};

new PynomalyStack(app, context('stackName') ?? 'pynomaly', {
  env: { account: context('account'), region: context('region') },
  lambdaDir: path.resolve(context('lambdaDir') ?? '../target/lambda'),
  architecture: parseArchitecture(context('architecture') ?? 'arm64'),
  ingestTenant: context('ingestTenant'),
  chunkBytes: numberContext('chunkBytes'),
  maxReceives: numberContext('maxReceives'),
  alarmTopicArn: context('alarmTopicArn'),
  jwtIssuer: context('jwtIssuer'),
  jwtAudience: context('jwtAudience')?.split(',').map((a) => a.trim()).filter((a) => a !== ''),
});
