// A file that fails to load: the summary must count it as a failure and name it.
throw new Error("this fixture fails to load");
