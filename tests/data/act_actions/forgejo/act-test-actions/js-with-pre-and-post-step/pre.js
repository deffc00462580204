require('./record.js')('pre', process.env.INPUT_PRE === 'true');
