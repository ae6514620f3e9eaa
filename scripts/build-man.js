console.log("man: TODO")
