// ls, compare and sweep resume read one local folder whatever the tracking URI is: the folder
// itself, or the local mirror that runs write first when the URI is an MLflow server.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { localStoreRoot } from '../src/track/index.js';

test('the local store of each kind of tracking URI', () => {
  const cwd = '/work/project';
  assert.equal(localStoreRoot(undefined, cwd, {}), '/work/project/runs');
  assert.equal(localStoreRoot('experiments/mlruns', cwd, {}), '/work/project/experiments/mlruns');
  assert.equal(localStoreRoot('file:///data/mlruns', cwd, {}), '/data/mlruns');
  assert.equal(localStoreRoot('http://mlflow.example:5000', cwd, {}), '/work/project/runs', 'a server: its local mirror');
  assert.equal(localStoreRoot(undefined, cwd, { MLFLOW_TRACKING_URI: 'https://mlflow.example' }), '/work/project/runs');
  assert.equal(localStoreRoot(undefined, cwd, { MLFLOW_TRACKING_URI: '/srv/runs' }), '/srv/runs');
  assert.equal(localStoreRoot('other', cwd, { MLFLOW_TRACKING_URI: '/srv/runs' }), '/work/project/other', 'the spec wins over the environment');
});
