module.exports = { ...require('../../jest.preset.cjs'), displayName: 'mixer-adapter-stackdriver' };
