require('v8').startupSnapshot.setDeserializeMainFunction(() => { setTimeout(() => {}, 3000); });
