// Fleet replica: fails before reporting anything.
throw new Error('replica crashed on purpose');
