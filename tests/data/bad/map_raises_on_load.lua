-- raises while loading
error("cannot connect to the MIS database")
