require('./record.js')('main', true);
