require('./record.js')('post', process.env.INPUT_POST === 'true');
